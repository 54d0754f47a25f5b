"""How far two trainers agree when they label the same messages on their own.

Each labels file is a CSV with the columns ``id`` and ``label`` (the intent chosen
by the annotation guide, docs/annotation-guide.md); the sample is a CSV with
``id`` and ``text``. Prints raw agreement and Cohen's kappa over the intents and
over the family (queja / denuncia / other), each labeler against the reference
labels when given, and every disagreement for the trainers to settle (a label
fixed or a rule added to the guide).

    python scripts/label_agreement.py docs/labelling/sample.csv \
        docs/labelling/labeler_a.csv docs/labelling/labeler_b.csv \
        --reference docs/labelling/reference.csv --json results/label_agreement.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from buzon.intent_model import family_of as family


def read_column(path: Path, column: str) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row[column].strip() for row in csv.DictReader(handle)}


def agreement(first: dict[str, str], second: dict[str, str]) -> dict[str, float | int]:
    """Raw agreement and Cohen's kappa on the ids both labelled.

    >>> agreement({"1": "a", "2": "b"}, {"1": "a", "2": "b"})["raw"]
    1.0
    """
    ids = sorted(set(first) & set(second))
    a = [first[i] for i in ids]
    b = [second[i] for i in ids]
    fa = [family(x) for x in a]
    fb = [family(x) for x in b]
    return {
        "n": len(ids),
        "raw": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(ids), 3),
        "kappa": round(float(cohen_kappa_score(a, b)), 3),
        "family_raw": round(sum(x == y for x, y in zip(fa, fb, strict=True)) / len(ids), 3),
        "family_kappa": round(float(cohen_kappa_score(fa, fb)), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample", type=Path)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    texts = read_column(args.sample, "text")
    first = read_column(args.first, "label")
    second = read_column(args.second, "label")
    result: dict[str, object] = {"labelers": agreement(first, second)}
    reference = read_column(args.reference, "label") if args.reference else None
    if reference:
        result["first_vs_reference"] = agreement(first, reference)
        result["second_vs_reference"] = agreement(second, reference)
    for name, figures in result.items():
        print(f"{name}: {figures}")
    disagreements = [
        {
            "id": i,
            "text": texts.get(i, ""),
            "first": first[i],
            "second": second[i],
            **({"reference": reference.get(i, "")} if reference else {}),
        }
        for i in sorted(set(first) & set(second), key=lambda x: int(x) if x.isdigit() else x)
        if first[i] != second[i]
    ]
    print(f"disagreements: {len(disagreements)}")
    for row in disagreements:
        print(f"  {row['id']}: {row['first']} / {row['second']} :: {row['text'][:140]}")
    result["disagreements"] = disagreements
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
