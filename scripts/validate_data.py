"""`rasa data validate`, failing on every warning but one kind that is expected.

Rasa warns about each response "not used in any story or rule", but most of
ours are sent by custom actions or by the channels (form questions, the Spanish message for each
invalid answer, help for each step). Such a warning is accepted only when the
response name, or the prefix the actions build it from, appears in actions/.
Everything else Rasa reports (unknown intents, story conflicts, bad slot
mappings, duplicate examples…) fails the check.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNUSED = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule")
WARNING = re.compile(r"(UserWarning|WARNING|ERROR)")
# Prefixes of response names the actions assemble at run time (f"utter_invalid_{reason}"…).
DYNAMIC = re.compile(r'f"(utter_\w*?)\{')


def used_by_actions() -> tuple[set, tuple]:
    """Response names the actions and the channels send (channels answer blank,
    too long and "busy" messages themselves)."""
    code = "\n".join(
        p.read_text() for folder in ("actions", "channels") for p in (ROOT / folder).glob("*.py")
    )
    return set(re.findall(r'"(utter_\w+)"', code)), tuple(DYNAMIC.findall(code)) + ("utter_ask_",)


def main() -> int:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/rasa"), "data", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    names, prefixes = used_by_actions()
    problems = []
    for line in (result.stdout + result.stderr).splitlines():
        unused = UNUSED.search(line)
        if unused:
            name = unused.group(1)
            if name not in names and not name.startswith(prefixes):
                problems.append(f"response {name} is used by no story, rule or action")
        elif WARNING.search(line) and "tensorflow" not in line and "SQLAlchemy" not in line:
            problems.append(line.strip())
    if result.returncode != 0:
        problems.append(f"rasa data validate exited with {result.returncode}")
    for problem in problems:
        print(problem)
    print("data validation: " + ("FAILED" if problems else "clean"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
