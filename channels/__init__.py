"""Rasa input channels of the buzón beyond the built-in REST channel.

- :mod:`channels.web`: the citizen's web page (chat widget and evidence upload).
- :mod:`channels.whatsapp`: the WhatsApp Business Cloud API (webhook + Graph API).
- :mod:`channels.evidence_intake`: evidence files sent in a conversation, shared by
  every channel that receives files (the web upload and WhatsApp).
"""
