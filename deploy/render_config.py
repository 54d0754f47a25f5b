"""Fill a configuration template from the environment: ``${NAME}`` becomes ``$NAME``'s value.

Only upper-case names in braces are placeholders, so nginx's own variables
(``$remote_addr``, ``$cookie_buzon_chat``) pass through untouched. A placeholder
whose variable is not set stops the rendering with its name, instead of writing a
configuration with a hole in it.

    python deploy/render_config.py deploy/nginx.conf.template > nginx.conf

>>> render("listen ${PORT}; $remote_addr", {"PORT": "8080"})
'listen 8080; $remote_addr'
>>> render("${MISSING}", {})
Traceback (most recent call last):
    ...
KeyError: 'MISSING'
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: str, environ: Mapping[str, str]) -> str:
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in environ})
    if missing:
        raise KeyError(", ".join(missing))
    return PLACEHOLDER.sub(lambda found: environ[found.group(1)], template)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: render_config.py TEMPLATE", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as template:
        text = template.read()
    try:
        sys.stdout.write(render(text, os.environ))
    except KeyError as error:
        print(f"{argv[1]}: not set in the environment: {error.args[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
