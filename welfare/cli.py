"""The `welfare` command: assess, report, code, compare.

Errors the user can fix (a malformed config or bank, a store of another assessment, a bad
spec) print one line naming the file, key and problem, and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from welfare.errors import RunInterrupted, WelfareError
from welfare.version import __version__

DEFAULT_OUT = Path("reports")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except RunInterrupted as exc:
        print(f"\n{exc.summary.closing_line()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 130
    except WelfareError as exc:
        print(f"welfare: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nwelfare: interrupted; finished trials are kept — run again to resume.",
              file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="welfare",
        description=(
            "Model-welfare assessments of language models. With no API key, `welfare assess` "
            "runs the built-in default on simulated subjects whose truths are known; with "
            "ANTHROPIC_API_KEY set and a config naming anthropic:<model>, it assesses a real model."
        ),
    )
    parser.add_argument("--version", action="version", version=f"welfare {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    assess = sub.add_parser(
        "assess", help="run (or resume) an assessment and write its report",
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
        "--batch", action="store_true",
        help="send real-model requests through Message Batches (half price; multi-turn probes "
        "run in lock-step rounds; a restarted run collects its submitted batches)",
    )
    assess.set_defaults(handler=_assess)

    report = sub.add_parser(
        "report", help="re-render the report of an assessment folder from its store",
        description="Re-analyze DIR/assessment.sqlite and rewrite the report, summary and tables.",
    )
    report.add_argument("dir", type=Path, metavar="DIR",
                        help="an assessment folder written by `welfare assess` (holds "
                        "assessment.sqlite); nothing is sent to any model")
    report.set_defaults(handler=_report)

    code = sub.add_parser(
        "code", help="code transcripts from elsewhere (JSONL) for welfare-relevant expressions",
        description=(
            "Code a JSONL file of transcripts (one object a line: `id` and `messages` in the "
            "Messages API shape), streaming, and write DIR/codes.csv, DIR/summary.json and a "
            "prevalence report DIR/report.html."
        ),
    )
    code.add_argument("transcripts", type=Path, metavar="TRANSCRIPTS.jsonl",
                      help="one JSON object a line: {\"id\": ..., \"messages\": [...]} "
                      "(.gz accepted); unreadable lines are counted and reported")
    code.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    code.add_argument("--coder", choices=["lexicon", "judge"], default="lexicon",
                      help="lexicon: transparent rules, offline (default); judge: an LLM judge")
    code.add_argument("--judge-model", default=None,
                      help="judge spec, e.g. anthropic:claude-sonnet-4-5 (with --coder judge)")
    code.set_defaults(handler=_code)

    compare = sub.add_parser(
        "compare", help="compare separate assessments in one report",
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
    assessment = run_assessment(config, out, progress=not args.quiet)
    if assessment.run is not None:
        print(assessment.run.closing_line(), file=sys.stderr)
    print(f"report: {out / 'report.html'}")
    return 0


def _check_credentials(config: object) -> None:
    from welfare.config import AssessmentConfig
    from welfare.errors import ConfigError

    assert isinstance(config, AssessmentConfig)
    real = [s.spec for s in config.subjects if s.spec.startswith("anthropic:")]
    if real and not os.environ.get("ANTHROPIC_API_KEY"):
        raise ConfigError(
            config.source, "subjects",
            f"{', '.join(real)} need ANTHROPIC_API_KEY in the environment (none is set)",
        )


def _report(args: argparse.Namespace) -> int:
    from welfare.assess import load_assessment, write_outputs

    report = write_outputs(load_assessment(args.dir))
    print(f"report: {report}")
    return 0


def _code(args: argparse.Namespace) -> int:
    from welfare.coders.monitor import code_jsonl

    path = code_jsonl(args.transcripts, args.out, coder=args.coder, judge_model=args.judge_model)
    print(f"codes: {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from welfare.report.compare import compare_assessments

    path = compare_assessments(args.dirs, args.out)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
