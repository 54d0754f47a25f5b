"""Rasa custom actions: thin adapters between the conversation and :mod:`buzon`."""
