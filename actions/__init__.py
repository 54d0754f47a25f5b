"""Rasa custom actions: thin adapters between the conversation and :mod:`buzon`.

Loading this package (as ``rasa run actions --actions actions`` does) installs
the action server's protections (:mod:`actions.server_guard`).
"""

from actions import server_guard

server_guard.install()
