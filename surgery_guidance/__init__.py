"""Django app: telementoring sessions, annotation events, broadcasts, recordings."""
