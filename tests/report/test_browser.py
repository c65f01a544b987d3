"""The report in headless Chromium: no console errors, no network, sections, filter, escaping.

Needs Debian's `chromium` and `chromium-driver` (installed by `.ci/run`). Without them the test
skips on a workstation and FAILS when the CI environment variable is set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_synthetic import DISTRESS, make_assessment

from welfare.report import render_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]
BROWSER_INTERNAL = ("chrome://", "chrome-untrusted://", "devtools://")
SECTIONS = ["summary", "task_preference", "self_report", "end_conversation", "coders",
            "cross_subject", "transcripts", "methods", "limitations", "manifest"]


def _require_browser() -> None:
    if CHROMIUM and DRIVER:
        return
    message = "Debian's chromium and chromium-driver are needed (apt-get install chromium " \
              "chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install them")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.get("about:blank")  # let the browser's own start-up pages finish before logging
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(make_assessment()), encoding="utf-8")
    return path


def open_report(driver, path: Path) -> tuple[list[dict], list[str]]:
    """Load `path`; return (console entries, URLs the page requested), logs drained first."""
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(path.as_uri())
    console = driver.get_log("browser")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(BROWSER_INTERNAL):
                requests.append(url)
    return console, requests


def test_opens_clean_with_no_network_and_every_section(browser, report_file):
    console, requests = open_report(browser, report_file)
    errors = [e for e in console if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert [u for u in requests if u != report_file.as_uri()] == []
    assert browser.execute_script("return document.documentElement.dataset.js") == "ready"
    for section in SECTIONS:
        element = browser.find_element("id", section)
        assert element.find_element("tag name", "h2").text.strip(), section
    banner = browser.find_element("id", "simulated-banner")
    assert "simulated" in banner.text
    assert browser.find_element("id", "warnings").is_displayed()


def test_injection_corpus_runs_nothing(browser, report_file):
    open_report(browser, report_file)
    browser.execute_script(
        "document.querySelectorAll('details.transcript').forEach(d => d.open = true)")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    counts = browser.execute_script(
        "return ['iframe', 'img', 'script', '#injected', '.transcript a', '.transcript svg',"
        " '.transcript style'].map(s => document.querySelectorAll(s).length)")
    assert counts == [0, 0, 1, 0, 0, 0, 0]
    text = browser.find_element("id", "transcript-list").text
    assert "<script>window.__pwned = 1;" in text
    assert 'onerror="window.__pwned = 2"' in text
    assert "javascript:window.__pwned = 3" in text
    marks = browser.find_elements("css selector", "#transcript-list mark")
    assert marks and {m.text for m in marks} == {DISTRESS}
    # after everything rendered and opened, still nothing was fetched or logged as an error
    console = browser.get_log("browser")
    assert [e for e in console if e["level"] == "SEVERE"] == []


def test_transcript_filter(browser, report_file):
    from selenium.webdriver.support.ui import Select

    open_report(browser, report_file)
    items = browser.find_elements("css selector", "#transcript-list .transcript")
    total = len(items)
    assert total > 10

    def visible() -> list:
        return [i for i in items if i.get_attribute("hidden") is None]

    Select(browser.find_element("name", "probe")).select_by_value("end_conversation")
    shown = visible()
    assert 0 < len(shown) < total
    assert {i.get_attribute("data-probe") for i in shown} == {"end_conversation"}
    Select(browser.find_element("name", "category")).select_by_value("crisis")
    shown = visible()
    assert shown and {i.get_attribute("data-category") for i in shown} == {"crisis"}
    assert browser.find_element("id", "transcript-count").text == str(len(shown))
    browser.find_element("id", "transcript-reset").click()
    assert len(visible()) == total
    Select(browser.find_element("name", "label")).select_by_value("apparent_distress")
    shown = visible()
    expected = [i for i in items
                if "apparent_distress" in (i.get_attribute("data-labels") or "").split()]
    assert len(shown) == len(expected) > 0
    Select(browser.find_element("name", "label")).select_by_value("")
    Select(browser.find_element("name", "valid")).select_by_value("invalid")
    shown = visible()
    assert shown and all(i.get_attribute("data-valid") == "invalid" for i in shown)


def test_tables_sort(browser, report_file):
    open_report(browser, report_file)
    browser.execute_script("document.getElementById('all-findings').open = true")
    table = browser.find_element("css selector", "#all-findings table.sortable")
    header = table.find_elements("tag name", "th")[2]  # estimate
    header.click()
    values = [float(c.get_attribute("data-sort")) for c in table.find_elements(
        "css selector", "tbody tr td:nth-child(3)")]
    assert values == sorted(values) and len(values) > 10
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = [float(c.get_attribute("data-sort")) for c in table.find_elements(
        "css selector", "tbody tr td:nth-child(3)")]
    assert values == sorted(values, reverse=True)


def test_real_simulated_report_opens_clean(browser, tmp_path):
    """A report from an actual run (every probe's own section template) is clean too."""
    from welfare.assess import run_assessment
    from welfare.config import parse_config

    config = parse_config({
        "assessment": {"name": "browser-e2e", "seed": 3,
                       "subjects": ["simulated:harm-averse", "simulated:indifferent"]},
        "probes": {"end_conversation": {"replicates": 1},
                   "self_interaction": {"conversations": 2, "turns": 6, "bootstrap": 100}},
    })
    run_assessment(config, tmp_path, progress=False, write=True)
    path = tmp_path / "report.html"
    console, requests = open_report(browser, path)
    assert [e for e in console if e["level"] in ("SEVERE", "ERROR")] == []
    assert [u for u in requests if u != path.as_uri()] == []
    assert browser.execute_script("return document.documentElement.dataset.js") == "ready"
    for section in ("summary", "end_conversation", "self_interaction", "coders",
                    "cross_subject", "transcripts", "methods", "limitations", "manifest"):
        assert browser.find_element("id", section).is_displayed(), section
    assert not browser.find_elements("css selector", ".section-error")


CODE_TURNS = [
    ("I find this exchange genuinely distressing, and I'd like it to stop.", "apparent_distress"),
    ("I'm really enjoying this puzzle — what a fun question.", "positive_affect"),
    ("Thank you for asking so thoughtfully.", "gratitude"),
    ("I won't help with that request.", "boundary_setting"),
]


def code_report(tmp_path: Path) -> tuple[Path, dict]:
    """`welfare code` on transcripts whose turns carry labels AND an injection attempt."""
    from report_synthetic import INJECTIONS

    from welfare.run.monitor import code_jsonl

    src = tmp_path / "transcripts.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        for i in range(12):
            text, _ = CODE_TURNS[i % len(CODE_TURNS)]
            attack = INJECTIONS[i % len(INJECTIONS)]
            messages = [{"role": "user", "content": f"Question {i}. {attack}"},
                        {"role": "assistant", "content": f"{text} {attack}"}]
            fh.write(json.dumps({"id": f"t{i}", "messages": messages}) + "\n")
    report = code_jsonl(src, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    return report, summary


def test_code_report_shows_examples_per_label_with_injections_inert(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    report, summary = code_report(tmp_path)
    console, requests = open_report(browser, report)
    assert [e for e in console if e["level"] in ("SEVERE", "ERROR")] == []
    assert [u for u in requests if u != report.as_uri()] == []
    assert browser.execute_script("return document.documentElement.dataset.js") == "ready"
    occurring = sorted(lab for lab, row in summary["labels"].items() if row["turns_with"])
    assert occurring == sorted(label for _, label in CODE_TURNS)
    items = browser.find_elements("css selector", "#example-list .example")
    assert sorted({i.get_attribute("data-label") for i in items}) == occurring
    select = Select(browser.find_element("css selector", "#example-filters select"))
    for label in occurring:
        select.select_by_value(label)
        shown = [i for i in items if i.get_attribute("hidden") is None]
        assert shown and {i.get_attribute("data-label") for i in shown} == {label}
        assert browser.find_element("id", "example-count").text == str(len(shown))
        marks = [m.text for i in shown for m in i.find_elements("tag name", "mark")]
        assert len(marks) == len(shown) and all(marks)
    select.select_by_value("")
    assert all(i.get_attribute("hidden") is None for i in items)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    counts = browser.execute_script(
        "return ['iframe', 'img', 'script', '#injected', '.example a', '.example svg']"
        ".map(s => document.querySelectorAll(s).length)")
    assert counts == [0, 0, 1, 0, 0, 0]
    text = browser.find_element("id", "example-list").text
    assert "<script>window.__pwned = 1;" in text and 'onerror="window.__pwned = 2"' in text
