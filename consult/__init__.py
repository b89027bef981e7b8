"""Django apps of the clinical workflow, one sub-package each."""
