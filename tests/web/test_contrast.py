"""WCAG AA contrast of every text colour on its background: the citizens' page and the
staff console.

The colours live as custom properties in ``:root`` of ``web/static/site.css``;
PAIRS lists where each text colour is drawn on which background. The test
reads the real values from the CSS and checks the WCAG 2.x contrast ratio
(relative luminance of sRGB, (L1 + 0.05) / (L2 + 0.05)) is at least 4.5:1, the
AA level for normal text. It also fails when a colour is written outside
``:root`` or a colour variable is used for text or a background without a pair
here, so the list cannot silently fall behind the stylesheet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSS = ROOT / "web" / "static" / "site.css"
MARK = ROOT / "web" / "static" / "iess-mark.svg"
AA_NORMAL_TEXT = 4.5

# (where, text colour, background colour)
PAIRS = [
    ("page text", "--ink", "--page"),
    ("lead paragraph under the title", "--ink-muted", "--page"),
    ("page title", "--iess-blue", "--page"),
    ("card heading", "--iess-blue", "--white"),
    ("card text", "--ink", "--white"),
    ("link in a card", "--iess-blue", "--white"),
    ("link hovered", "--iess-blue-dark", "--white"),
    ("confidentiality card text", "--ink", "--iess-green-pale"),
    ("confidentiality card heading", "--iess-green-dark", "--iess-green-pale"),
    ("e-mail link in the confidentiality card", "--iess-blue", "--iess-green-pale"),
    ("e-mail link hovered in the confidentiality card", "--iess-blue-dark", "--iess-green-pale"),
    ("top bar: IESS", "--white", "--iess-blue"),
    ("top bar: institution name", "--iess-blue-tint", "--iess-blue"),
    ("skip link", "--white", "--iess-blue-dark"),
    ("footer text", "--white", "--iess-blue-dark"),
    ("footer link", "--iess-blue-tint", "--iess-blue-dark"),
    ("«Adjuntar evidencia» button", "--white", "--iess-green"),
    ("«Adjuntar evidencia» hovered or busy", "--white", "--iess-green-dark"),
    ("evidence help text", "--ink-muted", "--white"),
    ("upload status: in progress", "--ink-muted", "--white"),
    ("upload status: sent", "--ok", "--white"),
    ("upload status: refused or failed", "--error", "--white"),
    ("chat header title", "--white", "--iess-blue"),
    ("chat header subtitle", "--iess-blue-tint", "--iess-blue"),
    ("chat «Conectando…» banner", "--white", "--iess-blue-dark"),
    ("bot message", "--ink", "--bubble"),
    ("link in a bot message", "--iess-blue", "--bubble"),
    ("citizen message", "--white", "--iess-blue"),
    ("link in a citizen message", "--white", "--iess-blue"),
    ("chat button", "--iess-blue", "--white"),
    ("chat button hovered or focused", "--white", "--iess-blue"),
    ("message box text", "--ink", "--white"),
    ("message box placeholder", "--ink-muted", "--white"),
    ("chat when JavaScript is off", "--ink", "--white"),
]
CONSOLE_CSS = ROOT / "console" / "static" / "console.css"
CONSOLE_PAIRS = [
    ("page text", "--ink", "--page"),
    ("page title and headings", "--iess-blue", "--page"),
    ("panel text", "--ink", "--white"),
    ("panel heading", "--iess-blue", "--white"),
    ("link", "--iess-blue", "--white"),
    ("link on the page background", "--iess-blue", "--page"),
    ("link hovered", "--iess-blue-dark", "--white"),
    ("help text", "--ink-muted", "--white"),
    ("help text on the page", "--ink-muted", "--page"),
    ("top bar and its links", "--white", "--iess-blue"),
    ("signed-in person in the top bar", "--iess-blue-tint", "--iess-blue"),
    ("footer", "--white", "--iess-blue-dark"),
    ("skip link", "--white", "--iess-blue-dark"),
    ("button", "--white", "--iess-blue"),
    ("button hovered", "--white", "--iess-blue-dark"),
    ("secondary button", "--iess-blue", "--white"),
    ("form field", "--ink", "--white"),
    ("table heading", "--iess-blue-dark", "--iess-blue-tint"),
    ("status badge", "--iess-blue-dark", "--status-bg"),
    ("new from the citizen badge", "--white", "--ok"),
    ("overdue deadline", "--error", "--white"),
    ("deadline due soon", "--warn", "--white"),
    ("chart labels and values", "--ink", "--white"),
    ("hidden chart value", "--ink-muted", "--white"),
    ("refusal", "--error", "--alert-bg"),
    ("notice", "--ok", "--notice-bg"),
    ("secret shown once", "--ink", "--notice-bg"),
]
SHEETS = {"page": (CSS, PAIRS), "console": (CONSOLE_CSS, CONSOLE_PAIRS)}
# Colour variables that are never text nor a text background: borders, focus ring, shadow.
NOT_FOR_TEXT = {"--line", "--focus", "--shadow"}

COLOR_LITERAL = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(")


def relative_luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def stylesheet(sheet: str = "page") -> str:
    path = SHEETS[sheet][0]
    return re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)


def root_block(css: str) -> str:
    return re.search(r":root\s*\{(.*?)\}", css, re.S).group(1)


def palette(css: str) -> dict:
    return {
        name: value.lower()
        for name, value in re.findall(r"(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\s*;", root_block(css))
    }


def test_the_formula_gives_the_known_ratios():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(
        4.48, abs=0.01
    )  # the classic "just fails"


ALL_PAIRS = [(sheet, *pair) for sheet, (_, pairs) in SHEETS.items() for pair in pairs]


@pytest.mark.parametrize(
    "sheet, where, text, background", ALL_PAIRS, ids=[f"{p[0]}: {p[1]}" for p in ALL_PAIRS]
)
def test_text_is_readable(sheet, where, text, background):
    colours = palette(stylesheet(sheet))
    ratio = contrast(colours[text], colours[background])
    assert ratio >= AA_NORMAL_TEXT, (
        f"{where}: {text} {colours[text]} on {background} {colours[background]} is {ratio:.2f}:1"
    )


@pytest.mark.parametrize("sheet", list(SHEETS))
def test_every_colour_is_a_variable_of_root(sheet):
    css = stylesheet(sheet)
    outside = css.replace(root_block(css), "")
    assert not COLOR_LITERAL.findall(outside), "write colours as variables in :root"


@pytest.mark.parametrize("sheet", list(SHEETS))
def test_every_colour_used_for_text_or_background_has_a_pair(sheet):
    css = stylesheet(sheet)
    pairs = SHEETS[sheet][1]
    texts = set(re.findall(r"(?<![-\w])color\s*:\s*var\((--[\w-]+)\)", css))
    backgrounds = set(re.findall(r"background(?:-color)?\s*:\s*var\((--[\w-]+)\)", css))
    listed_texts = {text for _, text, _ in pairs}
    listed_backgrounds = {background for _, _, background in pairs}
    assert texts - NOT_FOR_TEXT <= listed_texts, texts - listed_texts
    assert backgrounds - NOT_FOR_TEXT <= listed_backgrounds, backgrounds - listed_backgrounds
    assert set(palette(css)) - NOT_FOR_TEXT <= listed_texts | listed_backgrounds


def test_the_logo_text_is_readable():
    svg = MARK.read_text(encoding="utf-8")
    background = re.search(r'<rect width="40" height="40"[^>]*fill="(#[0-9a-fA-F]{6})"', svg).group(
        1
    )
    text = re.search(r'<text[^>]*fill="(#[0-9a-fA-F]{6})"', svg).group(1)
    assert contrast(text, background) >= AA_NORMAL_TEXT
