"""The production nginx configuration: valid for Debian's nginx, and nothing personal
spooled to disk (every body that a location accepts fits its memory buffer; no answer
goes to a temporary file)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf.template"
SIZES = {"k": 1024, "m": 1024 * 1024}


def size(text: str) -> int:
    return int(text[:-1]) * SIZES[text[-1]] if text[-1] in SIZES else int(text)


def blocks(config: str) -> list[str]:
    """The text of each server and location block, without its nested blocks."""
    found, stack = [], []
    for char in config:
        if char == "{":
            stack.append([])
        elif char == "}":
            found.append("".join(stack.pop()))
        elif stack:
            stack[-1].append(char)
    return found


def test_every_accepted_body_is_kept_in_memory_and_no_answer_is_spooled():
    config = TEMPLATE.read_text()
    assert re.search(r"^\s*proxy_max_temp_file_size 0;", config, re.MULTILINE)
    checked = 0
    for block in blocks(config):
        limit = re.search(r"client_max_body_size (\w+);", block)
        if not limit:
            continue
        buffer = re.search(r"client_body_buffer_size (\w+);", block)
        assert buffer, f"a block accepts {limit.group(1)} and may spool it to disk"
        assert size(buffer.group(1)) >= size(limit.group(1))
        checked += 1
    assert checked >= 6  # the defaults, page, upload, socket.io, WhatsApp, console, actions


@pytest.mark.skipif(not shutil.which("nginx", path="/usr/sbin:/usr/bin"), reason="no nginx")
def test_debians_nginx_accepts_the_rendered_configuration(tmp_path):
    values = {
        "ACTIONS_PORT_1": "18001",
        "ACTIONS_PORT_2": "18002",
        "ACTIONS_PROXY_LISTEN": "127.0.0.1:18003",
        "CONSOLE_PORT": "18004",
        "HSTS_HEADER": "",
        "LOG_DIR": str(tmp_path),
        "NGINX_DIR": str(tmp_path),
        "NGINX_USER_DIRECTIVE": "",
        "PUBLIC_LISTEN": "127.0.0.1:18005",
        "PUBLIC_TLS": "",
        "RASA_PORT_1": "18006",
        "RASA_PORT_2": "18007",
        "STAFF_LISTEN": "127.0.0.1:18008",
        "STAFF_PROXY_ADDRESS": "127.0.0.2",
    }
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], TEMPLATE.read_text())
    (tmp_path / "tmp").mkdir()
    (tmp_path / "nginx.conf").write_text(rendered)
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    checked = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-e",
         str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
