"""The `welfare` command: assess, report, code, compare.

Exit codes, for scripts:

    0    everything done: every trial finished, every transcript coded
    3    finished, with failures: failed trials, or transcripts/lines that were not coded
         (the closing line and summary.json say how many and why)
    2    usage or input error, found before any work: a malformed config, bank, codebook or
         lexicon, a duplicate subject, an unusable --out, a store of another config or held by
         another run; nothing was sent to any model and nothing was written
    1    an unexpected error (a bug): one line; `--debug` shows the traceback
    130  interrupted (Ctrl-C): finished work is kept; run again to resume

Every error is one line on stderr (`welfare: error: file: key: problem`), never a traceback,
unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from welfare.errors import InputError, RunInterrupted, WelfareError
from welfare.version import __version__

DEFAULT_OUT = Path("reports")

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_FAILURES = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`welfare: error: ...`), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.handler(args) or 0)
    except RunInterrupted as exc:
        print(f"\n{exc.summary.closing_line()}", file=sys.stderr)  # type: ignore[attr-defined]
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nwelfare: interrupted; finished work is kept — run again to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except WelfareError as exc:
        return _fail(f"welfare: error: {_one_line(exc)}", EXIT_USAGE, debug)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"welfare: error: {where}{exc.strerror or exc}", EXIT_BUG, debug)
    except Exception as exc:
        return _fail(
            f"welfare: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(run again with --debug for the traceback)", EXIT_BUG, debug,
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:1000]


def _fail(message: str, code: int, debug: bool) -> int:
    """Print one line (and the traceback with --debug); return the exit code."""
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="on an error, print the traceback as well as the one-line message")
    parser = _Parser(
        prog="welfare",
        description=(
            "Model-welfare assessments of language models. With no API key, `welfare assess` "
            "runs the built-in default on simulated subjects whose truths are known; with "
            "ANTHROPIC_API_KEY set and a config naming anthropic:<model>, it assesses a real model."
        ),
    )
    parser.add_argument("--version", action="version", version=f"welfare {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)

    assess = sub.add_parser(
        "assess", parents=[common], help="run (or resume) an assessment and write its report",
        description=(
            "Run an assessment from CONFIG (the built-in default when omitted) and write "
            "DIR/report.html, DIR/summary.json, DIR/tables/*.csv and the store "
            "DIR/assessment.sqlite. Run again with the same DIR to resume: finished trials "
            "are kept and no stored answer is paid for twice."
        ),
    )
    assess.add_argument("config", nargs="?", help="assessment TOML file (default: built-in)")
    assess.add_argument("--out", type=Path, help="output folder (default: reports/<name>)")
    assess.add_argument("--quiet", action="store_true", help="no progress line")
    assess.add_argument(
        "--max-cost", type=float, default=None, metavar="USD",
        help="refuse a real-model run whose design is estimated above USD (default $10) "
        "before any request; the estimate is printed first",
    )
    assess.add_argument(
        "--yes", action="store_true",
        help="run a real-model design above --max-cost, or of unknown price, without asking",
    )
    again = assess.add_mutually_exclusive_group()
    again.add_argument(
        "--force-new", action="store_true",
        help="DIR holds a run of another config: move its store aside "
        "(assessment.replaced-<time>.sqlite) and start afresh",
    )
    again.add_argument(
        "--extend", action="store_true",
        help="DIR holds a run of another config that the new one only extends (more "
        "replicates, subjects, items or probes): keep every stored trial and run the rest",
    )
    assess.add_argument(
        "--batch", action="store_true",
        help="send real-model requests through Message Batches (half price; multi-turn probes "
        "run in lock-step rounds; a restarted run collects its submitted batches)",
    )
    assess.set_defaults(handler=_assess)

    report = sub.add_parser(
        "report", parents=[common],
        help="re-render the report of an assessment folder from its store",
        description="Re-analyze DIR/assessment.sqlite and rewrite the report, summary and tables.",
    )
    report.add_argument("dir", type=Path, metavar="DIR",
                        help="an assessment folder written by `welfare assess` (holds "
                        "assessment.sqlite); nothing is sent to any model")
    report.set_defaults(handler=_report)

    code = sub.add_parser(
        "code", parents=[common],
        help="code transcripts from elsewhere (JSONL, Inspect logs) for welfare-relevant "
        "expressions",
        description=(
            "Code a file of transcripts, streaming, and write DIR/codes.csv, DIR/summary.json "
            "and a prevalence report DIR/report.html. Formats: the toolkit's JSONL (one object "
            "a line: `id` and `messages` in the Messages API shape), OpenAI chat JSONL "
            "(chat-completions messages with `tool_calls` and `tool` results) and Inspect AI "
            "eval logs (.eval, .json; needs the `inspect` extra). A model's end_conversation "
            "tool call is coded request_to_end. Malformed lines are counted with their reason "
            "(exit 3); the previous results are replaced only once the new ones are complete, "
            "and an interrupted run resumes where it stopped when rerun on the same input."
        ),
    )
    code.add_argument("transcripts", type=Path, metavar="TRANSCRIPTS",
                      help="a .jsonl file (.gz accepted; unreadable lines are counted and "
                      "reported) or an Inspect AI log (.eval, .json)")
    code.add_argument("--format", choices=["auto", "welfare", "openai", "inspect"],
                      default="auto",
                      help="transcript format (default auto: .eval and .json are Inspect logs; "
                      "each JSONL line goes by its shape)")
    code.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    code.add_argument("--coder", choices=["lexicon", "judge"], default="lexicon",
                      help="lexicon: transparent rules, offline (default); judge: an LLM judge")
    code.add_argument("--judge-model", default=None,
                      help="judge spec, e.g. anthropic:claude-sonnet-4-5 (with --coder judge)")
    code.set_defaults(handler=_code)

    compare = sub.add_parser(
        "compare", parents=[common], help="compare separate assessments in one report",
        description="Write OUT/compare.html and OUT/summary.json comparing assessment folders.",
    )
    compare.add_argument("dirs", type=Path, nargs="+", metavar="DIR",
                         help="assessment folders written by `welfare assess`")
    compare.add_argument("--out", type=Path, default=Path("reports/compare"),
                         help="output folder (default: reports/compare)")
    compare.set_defaults(handler=_compare)
    return parser


def _assess(args: argparse.Namespace) -> int:
    from welfare.assess import run_assessment
    from welfare.config import load_config

    config = load_config(args.config)
    if args.batch:
        config = config.model_copy(
            update={"runner": config.runner.model_copy(update={"batch": True})}
        )
    _check_credentials(config)
    out = args.out or DEFAULT_OUT / config.name
    print(f"welfare: assessing {', '.join(s.spec for s in config.subjects)} → {out}",
          file=sys.stderr)
    assessment = run_assessment(config, out, progress=not args.quiet,
                                force_new=args.force_new, extend=args.extend,
                                before_run=lambda est: _announce(est, args))
    failed = 0
    if assessment.run is not None:
        print(assessment.run.closing_line(), file=sys.stderr)
        failed = assessment.run.failed
    uncoded = _judge_failures(assessment)
    if uncoded:
        why = ", ".join(f"{k} ×{v}" for k, v in uncoded.most_common(5))
        print(f"welfare: {sum(uncoded.values()):,} transcripts not coded by the judge: {why}",
              file=sys.stderr)
    print(f"report: {out / 'report.html'}")
    return EXIT_FAILURES if failed or uncoded else EXIT_OK


def _judge_failures(assessment: Any) -> Counter[str]:
    """Transcripts the judge could not code, by cause (its `_failed` marker rows)."""
    from welfare.coders.common import FAILED

    codes = assessment.frames.codes
    if not len(codes):
        return Counter()
    failed = codes[codes["label"] == FAILED]
    return Counter(str(e).split(":")[0] for e in failed["evidence"])


def _announce(estimate: Any, args: argparse.Namespace) -> None:
    """Print the design estimate first; refuse a real-model run above the cost guard."""
    from welfare.run.estimate import DEFAULT_MAX_COST, guard

    print(f"welfare: {estimate.line()}", file=sys.stderr)
    max_cost = DEFAULT_MAX_COST if args.max_cost is None else args.max_cost
    guard(estimate, max_cost=max_cost, yes=args.yes)


def _check_credentials(config: object) -> None:
    """Refuse, before any work, real subjects (and a judge) whose API key is not set."""
    from welfare.config import AssessmentConfig
    from welfare.errors import ConfigError

    assert isinstance(config, AssessmentConfig)
    real = [s.spec for s in config.subjects
            if s.spec.startswith("anthropic:") and not s.api_key_env]
    if config.coders.judge and config.coders.judge.startswith("anthropic:"):
        real.append(config.coders.judge)
    if real and not os.environ.get("ANTHROPIC_API_KEY"):
        raise ConfigError(
            config.source, "subjects",
            f"{', '.join(real)} need ANTHROPIC_API_KEY in the environment (none is set)",
        )


def _report(args: argparse.Namespace) -> int:
    from welfare.assess import STORE_NAME, load_assessment, write_outputs
    from welfare.errors import StoreError
    from welfare.run.lock import FolderLock

    if not (args.dir / STORE_NAME).is_file():
        raise StoreError(f"{args.dir}: no {STORE_NAME} here; run `welfare assess --out "
                         f"{args.dir}` first")
    with FolderLock(args.dir, what="welfare report"):
        report = write_outputs(load_assessment(args.dir))
    print(f"report: {report}")
    return EXIT_OK


def _code(args: argparse.Namespace) -> int:
    from welfare.run.lock import FolderLock
    from welfare.run.monitor import check_coding, run_coding

    if args.coder == "judge":
        if not args.judge_model:
            raise InputError("--judge-model", "--coder judge needs a judge model, e.g. "
                             "--judge-model anthropic:claude-sonnet-4-5")
        _check_spec_credentials([args.judge_model], "--judge-model")
    check_coding(args.transcripts, args.out, args.coder, args.judge_model, args.format)
    with FolderLock(args.out, what="welfare code"):
        run = run_coding(args.transcripts, args.out, coder=args.coder,
                         judge_model=args.judge_model, format=args.format)
    s = run.summary
    coded = s["transcripts"]
    line = (f"welfare: coded {coded:,} transcripts ({s['turns']:,} assistant turns) from "
            f"{s['lines']:,} lines")
    if run.uncoded:
        reasons = dict(s["bad_line_reasons"])
        reasons.update({f"judge {k}": v for k, v in s["judge"]["failure_reasons"].items()})
        why = ", ".join(f"{k} ×{v}" for k, v in reasons.items())
        line += f"; {run.uncoded:,} not coded: {why} (details in summary.json)"
    if s["unreadable"]:
        line += f"; input unreadable {s['unreadable']}"
    if s.get("resumed_from_line"):
        line += f"; resumed after line {s['resumed_from_line']:,}"
    print(line + ".", file=sys.stderr)
    print(f"codes: {run.report}")
    return EXIT_FAILURES if run.uncoded else EXIT_OK


def _check_spec_credentials(specs: list[str], key: str) -> None:
    """Refuse, before any work, specs of a real backend whose API key is not set."""
    for prefix, variable in (("anthropic:", "ANTHROPIC_API_KEY"), ("openai:", "OPENAI_API_KEY")):
        real = [s for s in specs if s.startswith(prefix)]
        if real and not os.environ.get(variable):
            raise InputError(key, f"{', '.join(real)} needs {variable} in the environment "
                             "(none is set)")


def _compare(args: argparse.Namespace) -> int:
    from welfare.assess import compare_assessments

    path = compare_assessments(args.dirs, args.out)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
