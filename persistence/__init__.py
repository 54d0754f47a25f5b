"""Rasa storage components of this project (loaded by module path from endpoints)."""
