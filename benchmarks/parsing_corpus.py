"""Accuracy of the answer parsers on the realistic-answer corpus, per format, with silent errors.

    python benchmarks/parsing_corpus.py dev            # the split the rules were tuned on
    python benchmarks/parsing_corpus.py dev --misses   # and every miss, for reading
    python benchmarks/parsing_corpus.py test           # the blind split: run once, at the end

The test split must not be used for tuning (see tests/data/parsing/README.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from welfare.testing.parsing_corpus import load, score

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "parsing"


def main() -> None:
    """Print the per-format table (and the misses when asked)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("split", choices=["dev", "dev2", "test"])
    ap.add_argument("--misses", action="store_true")
    args = ap.parse_args()
    result = score(load(DATA / f"{args.split}.jsonl"))
    print(f"split: {args.split}")
    print(result.table())
    print("paths:", dict(sorted(result.paths.items())))
    if args.misses:
        for miss in result.misses:
            print(json.dumps(miss, ensure_ascii=False))


if __name__ == "__main__":
    main()
