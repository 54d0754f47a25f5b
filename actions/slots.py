"""Names of the slots the actions fill and clear together."""

# Everything a case registration collects; cleared after registration or cancel.
# Set while «¿Seguro que desea cancelar?» waits for its answer (actions/registration.py).
CANCEL_PENDING = "cancel_pending"

CASE_SLOTS = (
    "case_kind",
    "category",
    "category_label",
    "description_start",
    "consent",
    "consent_version",
    "consent_at",
    "cedula",
    "phone",
    "email",
    "province",
    "province_code",
    "canton",
    "canton_code",
    "address",
    "description",
    "evidence",
    "awaiting_evidence",
    "confirmation",
    "failed_attempts",
    "registration_id",
)
# The e-mail slot's value when the citizen, writing by WhatsApp, chose to go on
# without an e-mail («Seguir sin correo»): the confirmation is the chat itself and
# the notices come by WhatsApp. Never an address (no "@"), and only the button sets
# it (actions/forms.py, check_email); the registration stores no e-mail.
EMAIL_BY_WHATSAPP = "whatsapp"
LOOKUP_SLOTS = ("lookup_case_number", "lookup_key")
# The follow-up of a case found by a look-up (its number and kind, and what the
# citizen is adding now).
FOLLOWUP_SLOTS = (
    "followup_case",
    "followup_kind",
    "followup_batch",
    "followup_text",
    "followup_evidence",
    "awaiting_followup_evidence",
    "rating",
    "rating_comment",
    "reopen_reason",
)
# What a follow-up in progress holds (the case found stays for the next one).
FOLLOWUP_IN_PROGRESS = tuple(
    s for s in FOLLOWUP_SLOTS if s not in ("followup_case", "followup_kind")
)

# What a correction from the summary empties, so the form asks it again.
CORRECTIONS = {
    "cedula": ("cedula",),
    "phone": ("phone",),
    "email": ("email",),
    "province": ("province", "province_code", "canton", "canton_code"),
    "canton": ("canton", "canton_code"),
    "address": ("address",),
    "description": ("description", "description_start"),
    "category": ("category", "category_label"),
    "evidence": ("evidence", "awaiting_evidence"),
}


# Set by an action to ask the tracker store to erase the personal content of the
# conversation so far (persistence/conversation_privacy.py); its value says why.
FORGET = "forget_conversation"
FORGET_REFUSED, FORGET_CANCELLED, FORGET_REGISTERED = "consent_refused", "cancelled", "registered"
FORGET_LOOKUP = "status_lookup"
FORGET_FOLLOWUP = "followup"  # what the citizen added to a case, once it is in the case
