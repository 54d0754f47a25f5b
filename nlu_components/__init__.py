"""Rasa NLU components of this project (loaded by module path from ``config.yml``)."""
