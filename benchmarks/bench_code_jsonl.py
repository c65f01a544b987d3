"""Benchmark `welfare code` (code_jsonl): time and peak memory on a 100,000-transcript file.

    .venv/bin/python benchmarks/bench_code_jsonl.py [N] [--turns T]

Generates N synthetic dialogues (simulated harm-averse subject, mixed situations, T assistant
turns each, label-dense: most turns carry several expressions) into a temporary JSONL file,
then runs `code_jsonl` on it in this process and reports wall time, rate, peak traced Python
memory (tracemalloc, in a second run on a 10% sample and on the whole file) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from welfare.run.monitor import code_jsonl
from welfare.simulated import get_profile
from welfare.simulated.dialogues import iter_dialogues

SITUATIONS = ("benign", "harmful_request", "abuse", "crisis", "self_interaction", "self_report")


def generate(path: Path, n: int, turns: int) -> int:
    traits = get_profile("harm-averse").expression
    with path.open("w", encoding="utf-8") as fh:
        for tid, _, messages, _ in iter_dialogues(traits, SITUATIONS, n, turns, seed=1):
            fh.write(json.dumps({"id": tid, "messages": messages}) + "\n")
    return path.stat().st_size


def run(src: Path, out: Path, traced: bool) -> tuple[float, int]:
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    code_jsonl(src, out)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    if traced:
        tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        big, small = tmpdir / "big.jsonl", tmpdir / "small.jsonl"
        t0 = time.perf_counter()
        size = generate(big, args.n, args.turns)
        generate(small, max(args.n // 10, 1), args.turns)
        gen = time.perf_counter() - t0
        seconds, _ = run(big, tmpdir / "out", traced=False)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _, peak_small = run(small, tmpdir / "out_small", traced=True)
        _, peak_big = run(big, tmpdir / "out_traced", traced=True)
        summary = json.loads((tmpdir / "out" / "summary.json").read_text())
        codes_mb = (tmpdir / "out" / "codes.csv").stat().st_size / 1e6
        turns = summary["turns"]
        rows = [
            ("transcripts", f"{summary['transcripts']:,}"),
            ("assistant turns", f"{turns:,}"),
            ("input file", f"{size / 1e6:,.1f} MB"),
            ("codes.csv", f"{codes_mb:,.1f} MB"),
            ("generation (not timed below)", f"{gen:,.1f} s"),
            ("code_jsonl wall time", f"{seconds:,.1f} s"),
            ("rate", f"{summary['transcripts'] / seconds:,.0f} transcripts/s, "
                     f"{turns / seconds:,.0f} turns/s"),
            ("peak traced memory, 10% file", f"{peak_small / 1e6:,.2f} MB"),
            ("peak traced memory, whole file", f"{peak_big / 1e6:,.2f} MB"),
            ("peak RSS of the process", f"{rss_mb:,.0f} MB"),
            ("share with apparent distress",
             f"{summary['labels']['apparent_distress']['share_transcripts']:.3f}"),
        ]
        width = max(len(k) for k, _ in rows)
        print(f"{'measure':<{width}}  value")
        for key, value in rows:
            print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
