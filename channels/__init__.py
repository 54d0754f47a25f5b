"""The channels of the Rasa server: the web page and socket.io, WhatsApp, REST.

Importing this package (Rasa does, to load the channels named in
``credentials.yml``) installs the server-wide protections of
:mod:`channels.server_hardening`, and two fixes of Rasa's speed measured under
load: the once-built response validator of :mod:`channels.action_responses` and
the remembered event classes of :mod:`channels.event_lookup`.
"""

from channels import action_responses, event_lookup, server_hardening

server_hardening.install()
action_responses.install()
event_lookup.install()
