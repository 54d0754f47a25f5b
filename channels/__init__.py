"""The channels of the Rasa server: the web page and socket.io, WhatsApp, REST.

Importing this package (Rasa does, to load the channels named in
``credentials.yml``) installs the server-wide protections of
:mod:`channels.server_hardening` and the once-built response validator of
:mod:`channels.action_responses`.
"""

from channels import action_responses, server_hardening

server_hardening.install()
action_responses.install()
