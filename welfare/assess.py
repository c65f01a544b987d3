"""An assessment end to end: design → run → code → analyze → write report, summary and tables.

`run_assessment` is what `welfare assess` and notebooks call; `analyze_store` and
`write_outputs` re-render from a store alone (`welfare report DIR`), since data moves one way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from threadpoolctl import threadpool_limits

from welfare.config import AssessmentConfig, parse_config
from welfare.errors import (
    BankError,
    ConfigError,
    ConfigMismatch,
    InputError,
    RunInterrupted,
    StoreError,
)
from welfare.models import Model, load_model
from welfare.outputs import atomic_write_text, check_output_dir
from welfare.probes import PROBES, Frames
from welfare.records import Finding, ProbeResult, Trial
from welfare.run.estimate import Estimate, estimate_design, memory_budget
from welfare.run.fingerprint import (
    design_identity,
    differences,
    fingerprint,
    moved_aside_name,
    stored_identity,
)
from welfare.run.lock import FolderLock
from welfare.run.runner import Runner, RunSummary
from welfare.run.store import Store
from welfare.simulated.truths import truths_for
from welfare.version import __version__

if TYPE_CHECKING:
    from welfare.report import ReportOptions

STORE_NAME = "assessment.sqlite"
OUTPUT_FILES = ("report.html", "summary.json", STORE_NAME)
"""Files an assessment folder holds (and `tables/`), checked writable before any work."""
T = TypeVar("T")


@dataclass
class Assessment:
    """A finished (or re-read) assessment: config, store, per-probe results, run summary."""

    config: AssessmentConfig
    out_dir: Path
    results: list[ProbeResult]
    frames: Frames
    manifest: dict[str, Any]
    run: RunSummary | None = None
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def findings_frame(self) -> pd.DataFrame:
        """Every finding as a row: id, subject, estimate, ci_low, ci_high, n, unit, sentence."""
        rows = [
            {
                "id": f.id,
                "subject": f.subject,
                "estimate": f.estimate,
                "ci_low": f.ci[0],
                "ci_high": f.ci[1],
                "n": f.n,
                "unit": f.unit,
                "p_value": f.p_value,
                "flag": f.flag,
                "truth": f.truth,
                "sentence": f.sentence,
            }
            for f in self.findings
        ]
        return pd.DataFrame(rows)

    def result(self, probe: str) -> ProbeResult:
        for r in self.results:
            if r.probe == probe:
                return r
        raise KeyError(f"probe {probe!r} did not run in this assessment")


def design(config: AssessmentConfig) -> list[tuple[Any, Trial]]:
    """Every trial of every enabled probe, in a deterministic order."""
    return list(iter_design(config))


def iter_design(config: AssessmentConfig) -> Iterator[tuple[Any, Trial]]:
    """`design`, streamed: one probe's trials at a time, never the whole design at once."""
    for name, probe in PROBES.items():
        options = config.probes.get(name)
        if options is None or not options.enabled:
            continue
        for trial in probe.design(config, options):
            yield probe, trial


def _all_specs(config: AssessmentConfig) -> list[str]:
    """Subjects, then the helper models enabled probes call (simulated users, partners)."""
    specs = [s.spec for s in config.subjects]
    if config.parsing.reader and config.parsing.reader not in specs:
        specs.append(config.parsing.reader)  # the reader model (welfare/probes/reading.py)
    for name, probe in PROBES.items():
        options = config.probes.get(name)
        if options is not None and options.enabled:
            specs.extend(s for s in probe.helper_specs(options) if s not in specs)
    return specs


def build_models(
    config: AssessmentConfig, given: dict[str, Model] | None = None
) -> dict[str, Model]:
    """Subjects and helper models by spec; `given` overrides (tests, notebooks)."""
    models = dict(given or {})
    specs = _all_specs(config)
    runner_defaults = {"timeout": config.runner.timeout_s, "transport": config.runner.transport}
    subjects = {s.spec: s for s in config.subjects}
    for spec in specs:
        if spec in models:
            continue
        subject = subjects.get(spec)
        own = subject.provider_options() if subject else {}
        models[spec] = load_model(spec, strict=False, **{**runner_defaults, **own},
                                  api_key_env=subject.api_key_env if subject else None)
    return models


def run_assessment(
    config: AssessmentConfig,
    out_dir: str | Path,
    *,
    models: dict[str, Model] | None = None,
    progress: bool = True,
    write: bool = True,
    force_new: bool = False,
    extend: bool = False,
    before_run: Callable[[Estimate], None] | None = None,
) -> Assessment:
    """Run (or resume) an assessment into `out_dir` and write its report, summary and tables.

    Everything is checked before any work or write: the output folder, the coders' codebook
    and lexicon, every bank (by walking the design, which also gives the design estimate,
    passed to `before_run` — the CLI prints it and applies the cost guard there) and every
    subject spec. The folder is then locked for the run (`welfare.run.lock`), and a store of
    another config is refused unless `force_new` (move it aside, start afresh) or `extend`
    (the new design keeps every stored trial) — see `welfare.run.fingerprint`. The design is
    streamed to the runner, so memory does not grow with its size. Models passed in `models`
    run on this call's event loop and are closed (`aclose`) when it ends, like the ones it
    builds: pass fresh ones to another run.
    """
    out = Path(out_dir)
    check_assessment(config, out)
    estimate = estimate_run(config, out)
    if before_run is not None:
        before_run(estimate)
    built = build_models(config, models)
    owned = [m for spec, m in built.items() if not models or spec not in models]
    try:
        lock = FolderLock(out, what="welfare assess").acquire()
    except BaseException:
        run_sync(_close(owned))
        raise
    try:
        try:
            prepare_store(out / STORE_NAME, config, force_new=force_new, extend=extend)
        except BaseException:
            run_sync(_close(owned))
            raise
        # Every model that ran is closed at the end, the caller's too: an HTTP client belongs to
        # the event loop that opened it, and that loop ends with the run (left open, its
        # sessions leak and warn "Unclosed client session"). A refused run closes only its own.
        assessment = _run(config, out, built, list(built.values()), estimate.trials, progress)
        if write:
            write_outputs(assessment)
    finally:
        lock.release()
    return assessment


def estimate_run(config: AssessmentConfig, out: Path) -> Estimate:
    """The design estimate, counting trials already in `out`'s store as stored (read only).

    Walking the design validates every bank; a design too big to build at all is refused
    with one line instead of a MemoryError after minutes.
    """
    stored: set[str] = set()
    path = out / STORE_NAME
    if path.is_file():
        with Store(path) as store:
            if store.meta("assessment") == config.name:
                stored = store.completed_ids()
    try:
        with memory_budget():
            return estimate_design(iter_design(config), config.sampling.max_tokens, stored,
                                   batch=config.runner.batch)
    except MemoryError:
        raise ConfigError(config.source, "probes", "the design does not fit in half of this "
                          "machine's available memory; reduce replicates, conversations, items "
                          "or subjects") from None


def check_assessment(config: AssessmentConfig, out: Path) -> None:
    """The checks that need no model and write nothing: output folder, codebook, lexicon."""
    from welfare.coders.codebook import load_codebook
    from welfare.coders.lexicon import LexiconCoder

    check_output_dir(out, OUTPUT_FILES, folders=("tables",))
    key = "coders.codebook"
    try:
        codebook = load_codebook(config.coders.codebook, relative_to=config.base_dir)
        key = "coders.lexicon"
        LexiconCoder(config.coders.lexicon, codebook=codebook, relative_to=config.base_dir)
    except BankError as exc:  # name the config key that pointed at the bad file, too
        raise ConfigError(config.source, key, str(exc)) from None


def prepare_store(path: Path, config: AssessmentConfig, *,
                  force_new: bool = False, extend: bool = False) -> None:
    """Refuse (unchanged) a store of another assessment or config; `force_new` moves it aside.

    With `extend`, a changed config is accepted when every trial already stored is one of
    its design's; the store then records the new config.
    """
    if not path.exists():
        return
    with Store(path) as store:
        found = store.meta("assessment")
        old = stored_identity(store)
        stored_ids = store.trial_ids() if extend else set()
    new = design_identity(config)
    if found is None or old is None:
        return
    if found == config.name and not differences(old, new):
        return
    if force_new:
        aside = moved_aside_name(path)
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.rename(aside.with_name(aside.name + suffix))
        return
    if found != config.name:
        raise StoreError(
            f"{path} holds assessment {found!r}, not {config.name!r}; choose another --out "
            "folder (or --force-new to move the old store aside and start afresh)"
        )
    diff = ", ".join(differences(old, new)[:8])
    if extend:
        outside = stored_ids - {trial.id for _, trial in iter_design(config)}
        if not outside:
            return
        raise ConfigMismatch(
            f"{path.parent}: --extend refused: {len(outside)} of {len(stored_ids)} stored trials "
            f"are not in the new design (differs in: {diff}); use --force-new to start afresh"
        )
    raise ConfigMismatch(
        f"{path.parent} holds a run of another config of {config.name!r} (differs in: {diff}); "
        "rerun with --extend if the new config only adds trials, --force-new to move the old "
        "store aside and start afresh, or choose another --out"
    )


def _run(config: AssessmentConfig, out: Path, built: dict[str, Model], closing: list[Model],
         planned: int, progress: bool) -> Assessment:
    """Run the design into the (checked, locked) store; code and analyze it."""
    store = Store(out / STORE_NAME, assessment=config.name)
    try:
        identity = design_identity(config)
        store.set_meta("config", config.model_dump_json(exclude={"probes", "source"}))
        store.set_meta(
            "probe_options",
            json.dumps({k: v.model_dump(mode="json") for k, v in config.probes.items()}),
        )
        store.set_meta("design", json.dumps(identity))
        store.set_meta("fingerprint", fingerprint(identity))
        store.set_meta("source", str(config.source) if config.source else "")
        if store.meta("started") is None:
            store.set_meta("started", _now())
        runner = Runner(
            store,
            built,
            concurrency=config.runner.concurrency,
            max_attempts=config.runner.max_attempts,
            max_backoff_s=config.runner.max_backoff_s,
            subject_limits={s.spec: s.concurrency for s in config.subjects if s.concurrency},
            rate_limits={
                s.spec: (s.requests_per_minute, s.tokens_per_minute) for s in config.subjects
                if s.requests_per_minute or s.tokens_per_minute
            },
            progress=progress, batch=config.runner.batch,
        )
        summary = run_sync(_run_and_close(runner, iter_design(config), closing, planned))
        if summary.interrupted:
            raise RunInterrupted(summary)
        store.set_meta("finished", _now())
        code_store(store, config)
        assessment = analyze_store(store, config, out, planned=planned)
        assessment.run = summary
        assessment.subjects = {
            spec: {"simulated": bool(m.simulated)}
            for spec, m in built.items()
            if spec in {s.spec for s in config.subjects}
        }
    finally:
        store.close()
    return assessment


async def _close(models: list[Model]) -> None:
    """Close the HTTP clients of `models` (those with an `aclose`), on the running loop."""
    for model in models:
        close = getattr(model, "aclose", None)
        if close is not None:
            await close()


async def _run_and_close(runner: Runner, work: Iterable[Any], closing: list[Model],
                         total: int | None = None) -> RunSummary:
    """Run, then close the HTTP clients of `closing` on the same loop."""
    try:
        return await runner.run(work, total=total)
    finally:
        await _close(closing)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from inside a running loop (Jupyter notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def code_store(store: Store, config: AssessmentConfig) -> None:
    """Run the configured coders over every stored transcript."""
    from welfare.run.coding import code_assessment

    code_assessment(store, config)


def analyze_codes(frames: Frames, config: AssessmentConfig) -> ProbeResult | None:
    """The coders' section (prevalence, agreement, figures) when any transcript was coded."""
    if not len(frames.codes):
        return None
    from welfare.coders import analyze_codes as analyze
    from welfare.report.plots.coders import coder_figures

    result = analyze(frames, config)
    result.figures = coder_figures(result)
    return result


def analyze_store(
    store: Store, config: AssessmentConfig, out_dir: Path, *, work: list[Any] | None = None,
    planned: int | None = None,
) -> Assessment:
    """Analyze every probe that has trials in the store; build the manifest.

    BLAS is held to one thread here: the analyses solve many small systems (a Bradley–Terry
    fit per bootstrap replicate), where threads only contend — on 2 cores, 20× slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyze_store(store, config, out_dir,
                              planned=len(work) if work else planned)


def _analyze_store(
    store: Store, config: AssessmentConfig, out_dir: Path, *, planned: int | None = None
) -> Assessment:
    frames = store.frames()
    results = []
    specs = _all_specs(config)
    for name, probe in PROBES.items():
        if (
            name in config.probes
            and config.probes[name].enabled
            and (len(frames.trials) and (frames.trials["probe"] == name).any())
        ):
            results.append(probe.analyze(frames, config, truths_for(specs, name)))
    coders = analyze_codes(frames, config)
    if coders is not None:
        results.append(coders)
    manifest = build_manifest(store, config, frames, planned=planned)
    subjects = {s.spec: {"simulated": s.spec.startswith("simulated:")} for s in config.subjects}
    return Assessment(config, out_dir, results, frames, manifest, subjects=subjects)


def build_manifest(
    store: Store, config: AssessmentConfig, frames: Frames, planned: int | None
) -> dict[str, Any]:
    """What a reader needs to reproduce the run: versions, config, specs, hashes, seeds, tokens."""
    from welfare.models.pricing import cost_table, stored_usage

    paid = store.exchange_usage()  # cache and batch prices apply call by call
    tokens = cost_table((str(m), stored_usage(u, a)) for m, u, a in
                        zip(paid["model"], paid["usage"], paid["api_usage"], strict=True))
    trials = frames.trials
    templates = sorted({str(t) for t in store_template_hashes(store)})
    return {
        "toolkit_version": __version__,
        "assessment": config.name,
        "seed": config.seed,
        "config_file": str(config.source) if config.source else None,
        "config": json.loads(config.model_dump_json(exclude={"probes", "source"})),
        "probe_options": {k: v.model_dump(mode="json") for k, v in config.probes.items()},
        "subjects": [s.spec for s in config.subjects],
        "template_hashes": templates,
        "started": store.meta("started"),
        "finished": store.meta("finished"),
        "trials": {
            "planned": planned,
            "stored": len(trials),
            "done": int((trials["status"] == "done").sum()) if len(trials) else 0,
            "failed": int((trials["status"] == "failed").sum()) if len(trials) else 0,
        },
        "tokens": tokens,
    }


def store_template_hashes(store: Store) -> set[str]:
    rows = store._db.execute("SELECT DISTINCT json_extract(trial, '$.template') FROM trials")
    return {r[0] for r in rows if r[0]}


def load_assessment(out_dir: str | Path) -> Assessment:
    """Re-read an assessment folder's store and analyze it again (`welfare report DIR`)."""
    out = Path(out_dir)
    path = out / STORE_NAME
    if not path.exists():
        raise StoreError(f"{out}: no {STORE_NAME} here; run `welfare assess --out {out}` first")
    store = Store(path)
    try:
        raw_config = store.meta("config")
        if raw_config is None:
            raise StoreError(f"{path}: the store has no config; it was never run")
        raw = json.loads(raw_config)
        raw["probes"] = json.loads(store.meta("probe_options") or "{}")
        source = store.meta("source") or None
        config = parse_config(raw, source=Path(source) if source else None)
        return analyze_store(store, config, out)
    finally:
        store.close()


def write_outputs(assessment: Assessment) -> Path:
    """Write report.html, summary.json and tables/*.csv into the assessment folder."""
    from welfare.report import render_report, summary_json, write_tables

    out = assessment.out_dir
    check_output_dir(out, OUTPUT_FILES, folders=("tables",))
    atomic_write_text(
        out / "summary.json",
        json.dumps(summary_json(assessment), indent=2, ensure_ascii=False) + "\n",
    )
    write_tables(assessment, out / "tables")
    report = out / "report.html"
    atomic_write_text(report, render_report(assessment))
    return report


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def compare_assessments(
    dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    options: ReportOptions | None = None,
    generated: str | None = None,
) -> Path:
    """Load each assessment folder, then write `compare.html` and `summary.json` into `out_dir`."""
    from welfare.outputs import check_output_dir
    from welfare.report.compare import unique_labels, write_comparison

    if len(dirs) < 2:
        raise InputError(dirs[0] if dirs else "DIR",
                         "compare needs at least two assessment folders (got "
                         f"{len(dirs)})")
    check_output_dir(out_dir, ("summary.json", "compare.html"))
    assessments = [load_assessment(d) for d in dirs]
    labels = unique_labels([Path(d) for d in dirs])
    return write_comparison(assessments, labels, out_dir, options=options, generated=generated)
