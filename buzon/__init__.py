"""Buzón de quejas y denuncias del IESS: the domain package behind the chatbot.

Nothing here imports Rasa. Validators, the territorial list, the case store,
numbering, routing and the mail outbox can be used and tested on their own.
"""
