"""The channels of the Rasa server: the web page and socket.io, WhatsApp, REST.

Importing this package (Rasa does, to load the channels named in
``credentials.yml``) installs the server-wide protections of
:mod:`channels.server_hardening`.
"""

from channels import server_hardening

server_hardening.install()
