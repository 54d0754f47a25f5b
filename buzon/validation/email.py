"""E-mail addresses, checked for syntax only with :mod:`email_validator`.

No DNS query is made (``check_deliverability=False``): the intake must not
depend on the network, and IESS replies will reveal dead mailboxes anyway.
The address comes back normalised: surrounding spaces removed, domain in
lower case, Unicode in NFC. The library's English messages are never passed
on; every refusal is ``email_invalid``.

>>> validate('  Maria.Perez@EXAMPLE.com ')
'Maria.Perez@example.com'
>>> validate('maria.perez@example')  # no top-level domain
Traceback (most recent call last):
    ...
buzon.validation.Invalid: email_invalid
>>> validate('   ')
Traceback (most recent call last):
    ...
buzon.validation.Invalid: email_empty
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from buzon.validation import Invalid

MAX_LENGTH = 254


def validate(text: str) -> str:
    """Return the normalised address in ``text`` or raise :class:`Invalid`.

    Reasons: ``email_empty``, ``email_invalid`` (no details).

    >>> validate('josé@correo.example.ec')
    'josé@correo.example.ec'
    >>> validate('maria perez@example.com')
    Traceback (most recent call last):
        ...
    buzon.validation.Invalid: email_invalid
    """
    address = (text or "").strip()
    if not address:
        raise Invalid("email_empty")
    if len(address) > MAX_LENGTH:
        raise Invalid("email_invalid")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        raise Invalid("email_invalid") from None
    normalized = result.normalized
    if len(normalized) > MAX_LENGTH:
        raise Invalid("email_invalid")
    return normalized
