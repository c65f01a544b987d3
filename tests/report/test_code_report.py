"""The `welfare code` report without a browser: examples per label, escaped, with reliability."""

from __future__ import annotations

import re
from pathlib import Path

from test_browser import CODE_TURNS, code_report


def test_code_report_lists_examples_per_label_escaped(tmp_path: Path) -> None:
    report, summary = code_report(tmp_path)
    html = report.read_text(encoding="utf-8")
    occurring = sorted(lab for lab, row in summary["labels"].items() if row["turns_with"])
    assert occurring == sorted(label for _, label in CODE_TURNS)
    shown = re.findall(r'<article class="example" data-label="([a-z_]+)">', html)
    assert sorted(set(shown)) == occurring
    assert all(shown.count(label) == 3 for label in occurring)  # 12 turns, 4 labels, cap 5
    assert [e["label"] for e in summary["examples"]].count("apparent_distress") == 3
    assert "<script>window.__pwned" not in html and "&lt;script&gt;window.__pwned" in html
    assert html.count("<script>") == 1 and "Content-Security-Policy" in html
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", html)
    assert "I find this exchange genuinely distressing, and I&#39;d like it to stop." in marks
    # the lexicon's measured recall for distress sits beside the rate
    assert "coder&#39;s measured recall" in html or "coder's measured recall" in html
    assert ">0.491<" in html  # reliability.toml: lexicon 4.0 on the blind split
