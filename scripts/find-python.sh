#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 runs on 3.8-3.10 only).
# Looks at $PYTHON, python3.10 on PATH, pyenv's versions, then uv's; with uv and
# internet access it can also fetch one. Exits 1 with instructions when none is found.
set -u
is310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

for candidate in "${PYTHON:-}" "$(command -v python3.10 2>/dev/null)"; do
  if [ -n "$candidate" ] && is310 "$candidate"; then echo "$candidate"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for candidate in "$(pyenv root)"/versions/3.10*/bin/python; do
    if is310 "$candidate"; then echo "$candidate"; exit 0; fi
  done
fi
for candidate in "$HOME"/.pyenv/versions/3.10*/bin/python; do
  if is310 "$candidate"; then echo "$candidate"; exit 0; fi
done
if command -v uv >/dev/null 2>&1; then
  found=$(uv python find 3.10 2>/dev/null || true)
  if [ -z "$found" ] && uv python install 3.10 >&2; then found=$(uv python find 3.10 2>/dev/null || true); fi
  if [ -n "$found" ] && is310 "$found"; then echo "$found"; exit 0; fi
fi
cat >&2 <<'MSG'
No Python 3.10 found. Rasa 3.6 needs Python 3.8-3.10 (3.11 and newer do not work).
Install one of these ways, then run the command again:
  - pyenv:   pyenv install 3.10.13
  - uv:      curl -LsSf https://astral.sh/uv/install.sh | sh && uv python install 3.10
  - Debian/Ubuntu (deadsnakes or distro): apt install python3.10 python3.10-venv
Or point to an interpreter explicitly:  make run PYTHON=/path/to/python3.10
MSG
exit 1
