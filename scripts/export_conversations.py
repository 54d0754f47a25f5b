"""Exports the conversations in the tracker store for the trainers, without personal data.

    python scripts/export_conversations.py                       # endpoints.yml -> exports/
    python scripts/export_conversations.py --endpoints endpoints.production.yml --out DIR
    python scripts/export_conversations.py --report-only         # print report.md

``make export-conversations`` (``ENDPOINTS=…``, ``OUT=…``) and ``make
conversation-report`` run it. The events are read through the tracker store that
the endpoints file configures (the project's EncryptedSQLTrackerStore decrypts
them), handed to :mod:`buzon.training` as plain dicts (redaction, ranking, report)
and written as:

- ``nlu.yml``: the typed messages under their predicted intents (Rasa NLU YAML);
- ``test_stories.yml``: one test story per conversation (Rasa test stories);
- ``annotation_queue.csv``: the messages to label first, ranked;
- ``report.md``: registration funnel, fallback rate, misunderstood messages.

The fallback threshold comes from config.yml's FallbackClassifier.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from buzon import wiring  # noqa: E402
from buzon.training import (  # noqa: E402
    annotation_queue,
    conversation_report,
    conversations,
    training_files,
)

NLU_FILE = "nlu.yml"
STORIES_FILE = "test_stories.yml"
QUEUE_FILE = "annotation_queue.csv"
REPORT_FILE = "report.md"


@dataclass(frozen=True)
class Settings:
    threshold: float
    margin: float = conversations.DEFAULT_CLOSE_CALL_MARGIN


def settings_from(
    config: Path, margin: float = conversations.DEFAULT_CLOSE_CALL_MARGIN
) -> Settings:
    """The fallback threshold of ``config`` (config.yml), and the close-call margin."""
    with config.open(encoding="utf-8") as handle:
        return Settings(conversations.fallback_threshold(yaml.safe_load(handle)), margin)


def tracker_store(endpoints: Path, domain: Path) -> Any:
    """The tracker store of the endpoints file, able to rebuild trackers with the domain."""
    from rasa.shared.core.domain import Domain

    from persistence.retention import tracker_store as configured_store

    store = configured_store(str(endpoints))
    store.domain = Domain.load(str(domain))
    return store


async def _events(store: Any) -> list[list[dict[str, Any]]]:
    senders = []
    for sender in await store.keys():
        tracker = await store.retrieve_full_tracker(sender)
        if tracker is not None and tracker.events:
            senders.append([event.as_dict() for event in tracker.events])
    # Oldest conversation first, so c0001 is the first one; the sender ids stay here.
    return sorted(senders, key=lambda events: events[0].get("timestamp") or 0.0)


def read_events(store: Any) -> list[list[dict[str, Any]]]:
    """Every sender's events, decrypted by the store, as Rasa's plain dicts."""
    return asyncio.run(_events(store))


def write_files(
    senders: Iterable[Iterable[dict[str, Any]]], out: Path, settings: Settings
) -> dict[str, Path]:
    """The four files for the trainers in ``out``; their paths by name."""
    found = conversations.read_conversations(senders)
    out.mkdir(parents=True, exist_ok=True)
    threshold, margin = settings.threshold, settings.margin
    queue = annotation_queue.rank(found, threshold, margin)
    report = conversation_report.compute(found, threshold, margin)
    contents = {
        NLU_FILE: training_files.nlu_yaml(found, threshold),
        STORIES_FILE: training_files.stories_yaml(found, threshold),
        QUEUE_FILE: annotation_queue.as_csv(queue, threshold, margin),
        REPORT_FILE: conversation_report.as_markdown(report),
    }
    paths = {}
    for name, text in contents.items():
        path = out / name
        path.write_text(text, encoding="utf-8-sig" if name == QUEUE_FILE else "utf-8")
        paths[name] = path
    return paths


def export(store: Any, out: Path, settings: Settings) -> dict[str, Path]:
    """Reads the store and writes the trainers' files (what ``make export-conversations`` does)."""
    return write_files(read_events(store), out, settings)


def report(store: Any, settings: Settings) -> str:
    """The conversation report alone, as Markdown."""
    found = conversations.read_conversations(read_events(store))
    return conversation_report.as_markdown(
        conversation_report.compute(found, settings.threshold, settings.margin)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, default=ROOT / "endpoints.yml")
    parser.add_argument("--domain", type=Path, default=ROOT / "domain.yml")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "exports")
    parser.add_argument(
        "--margin",
        type=float,
        default=conversations.DEFAULT_CLOSE_CALL_MARGIN,
        help="two best guesses closer than this are a close call",
    )
    parser.add_argument("--report-only", action="store_true", help="print and write report.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Rasa's and its libraries' notices about their own APIs are no news for a trainer
    # (their imports add filters of their own, so the notices are not even shown).
    with warnings.catch_warnings():
        warnings.showwarning = _not_shown
        run(args)


def _not_shown(*args: Any, **kwargs: Any) -> None:
    return None


def run(args: argparse.Namespace) -> None:
    wiring.umask_private()
    wiring.check()
    settings = settings_from(args.config, args.margin)
    store = tracker_store(args.endpoints, args.domain)
    if args.report_only:
        text = report(store, settings)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / REPORT_FILE).write_text(text, encoding="utf-8")
        print(text, end="")
        return
    paths = export(store, args.out, settings)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
