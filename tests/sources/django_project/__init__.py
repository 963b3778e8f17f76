"""A minimal Django project for the ModelSource tests (run in a subprocess)."""
