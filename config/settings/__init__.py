"""Settings: ``base`` holds everything; ``dev``, ``test`` and ``prod`` override it."""
