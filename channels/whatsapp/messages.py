"""The Cloud API messages for the bot's responses: text, reply buttons and lists
within WhatsApp's limits (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from buzon import messages as words
from buzon.whatsapp_cloud import text_message

# Limits of the Cloud API (messages, interactive reply buttons and list messages).
TEXT_LIMIT = 4096
BUTTON_BODY_LIMIT = 1024
LIST_BODY_LIMIT = 4096
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
# Words a shortened title should not end with ("Corregir provincia o…").
_DANGLING = {
    "a",
    "al",
    "con",
    "de",
    "del",
    "e",
    "el",
    "en",
    "la",
    "las",
    "lo",
    "los",
    "o",
    "para",
    "por",
    "u",
    "un",
    "una",
    "y",
}
ELLIPSIS = "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, line or word."""
    pieces, rest = [], (text or "").strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = next(
            (at for at in (window.rfind("\n\n"), window.rfind("\n"), window.rfind(" ")) if at > 0),
            limit,
        )
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def split_tail(text: str, limit: int) -> tuple[str, str]:
    """``(head, tail)``: the longest tail of at most ``limit`` characters that starts
    at a paragraph, line or word (the body of an interactive message)."""
    text = (text or "").strip()
    if len(text) <= limit:
        return "", text
    start = len(text) - limit
    window = text[start - 1 :]  # one character more: a boundary right at the cut counts
    at = next(
        (at for at in (window.find("\n\n"), window.find("\n"), window.find(" ")) if at >= 0), None
    )
    cut = start if at is None else start - 1 + at
    return text[:cut].rstrip(), text[cut:].strip()


def shorten(title: str, limit: int) -> str:
    """``title`` within ``limit`` characters: whole words, ending in "…" when cut."""
    title = " ".join((title or "").split())
    if len(title) <= limit:
        return title
    words, kept = title.split(" "), []
    for word in words:
        if len(" ".join(kept + [word])) + len(ELLIPSIS) > limit:
            break
        kept.append(word)
    while len(kept) > 1 and kept[-1].lower().strip(",;:.") in _DANGLING:
        kept.pop()
    short = " ".join(kept).rstrip(",;:.-–— ")
    if not short:  # a single word longer than the limit
        short = title[: limit - len(ELLIPSIS)].rstrip()
    return short + ELLIPSIS


def _unique(titles: list[str], limit: int) -> list[str]:
    """WhatsApp refuses two equal titles in one message: number the repeats."""
    seen: dict[str, int] = {}
    unique = []
    for title in titles:
        count = seen.get(title, 0) + 1
        seen[title] = count
        if count > 1:
            suffix = f" {count}"
            title = shorten(title.rstrip(ELLIPSIS), limit - len(suffix)) + suffix
        unique.append(title)
    return unique


def _payload(button: dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "").strip()


def _interactive(wa_id: str, interactive: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "interactive",
        "interactive": interactive,
    }


def button_message(wa_id: str, body: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """Interactive reply buttons (at most 3); each id carries the Rasa payload."""
    titles = _unique(
        [shorten(str(b.get("title", "")), BUTTON_TITLE_LIMIT) for b in buttons], BUTTON_TITLE_LIMIT
    )
    return _interactive(
        wa_id,
        {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": _payload(button), "title": title}}
                    for button, title in zip(buttons, titles, strict=False)
                ]
            },
        },
    )


def list_message(wa_id: str, body: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """An interactive list (at most 10 rows); a shortened title is whole in the description."""
    full = [" ".join(str(b.get("title", "")).split()) for b in buttons]
    titles = _unique([shorten(title, ROW_TITLE_LIMIT) for title in full], ROW_TITLE_LIMIT)
    rows = []
    for button, title, whole in zip(buttons, titles, full, strict=False):
        row = {"id": _payload(button), "title": title}
        if title != whole:
            row["description"] = shorten(whole, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return _interactive(
        wa_id,
        {
            "type": "list",
            "body": {"text": body},
            "action": {"button": words.text("whatsapp_list_button"), "sections": [{"rows": rows}]},
        },
    )


def build_messages(
    wa_id: str, text: str, buttons: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The Cloud API messages for one bot response, in sending order.

    Text alone: text messages of at most 4096 characters. Up to 3 buttons:
    reply buttons; 4 to 10: a list; more: a list of the first 10 and the rest as
    numbered text. Buttons whose payload does not fit an id go to that text too.
    Text too long for the interactive body goes first as plain text.
    """
    buttons = [b for b in (buttons or []) if _payload(b)]
    if not buttons:
        return [text_message(wa_id, piece) for piece in split_text(text)]
    buttons = decision_buttons(buttons)
    id_limit = BUTTON_ID_LIMIT if len(buttons) <= MAX_BUTTONS else ROW_ID_LIMIT
    fitting = [b for b in buttons if len(_payload(b)) <= id_limit]
    shown, rest = fitting[:MAX_ROWS], fitting[MAX_ROWS:] + [b for b in buttons if b not in fitting]
    if not shown:
        return build_messages(wa_id, text) + _numbered(wa_id, rest, 1)
    as_buttons = len(shown) <= MAX_BUTTONS
    head, body = split_tail(text, BUTTON_BODY_LIMIT if as_buttons else LIST_BODY_LIMIT)
    messages = [text_message(wa_id, piece) for piece in split_text(head)]
    body = body or ELLIPSIS  # the body is required
    if as_buttons:
        messages.append(button_message(wa_id, body, shown))
    else:
        messages.append(list_message(wa_id, body, shown))
    return messages + _numbered(wa_id, rest, len(shown) + 1)


CONFIRM, CORRECT, CANCEL = "/affirm", "/deny", "/cancel"


def decision_buttons(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A summary with «Confirmar», a correction per field and «Cancelar» becomes three
    reply buttons, Confirmar · Corregir · Cancelar, so the one action that matters
    is not hidden in a list; «Corregir» (a no to the summary) brings the list of
    fields (``utter_choose_correction``). Other button sets are left as they are.

    >>> fields = [{"title": f"Corregir {n}", "payload": f"/inform{{{n}}}"} for n in range(8)]
    >>> summary = [{"title": "Confirmar y registrar", "payload": "/affirm"}, *fields,
    ...            {"title": "Cancelar", "payload": "/cancel"}]
    >>> [b["payload"] for b in decision_buttons(summary)]
    ['/affirm', '/deny', '/cancel']
    """
    payloads = [_payload(b) for b in buttons]
    if len(buttons) <= MAX_BUTTONS or CONFIRM not in payloads or CANCEL not in payloads:
        return buttons
    return [
        {"title": words.text("whatsapp_confirm"), "payload": CONFIRM},
        {"title": words.text("whatsapp_correct"), "payload": CORRECT},
        buttons[payloads.index(CANCEL)],
    ]


def _numbered(wa_id: str, buttons: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
    if not buttons:
        return []
    lines = "\n".join(
        f"{first + n}. {' '.join(str(b.get('title', '')).split())}" for n, b in enumerate(buttons)
    )
    return [text_message(wa_id, piece) for piece in split_text(lines)]
