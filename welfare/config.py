"""Assessment config: TOML → validated objects. Errors name the file, the key and the problem.

A config names the subjects, the sampling parameters, the runner's limits and, per probe, its
options (`[probes.<name>]`, validated by that probe's own Options model).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from welfare.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).parent / "prompts" / "default_assessment.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Strict):
    """Sampling parameters sent with every subject request; they enter trial ids.

    `temperature` is unset by default: the model's own default is used. Claude subjects whose
    API refuses it (every model in `welfare.models.claude_models`, API version 2026-10-21)
    are rejected at load time. `max_tokens` unset means room for an answer: 16,000 when a
    subject thinks by default (thinking counts toward it), else 1,024; set, it must not exceed
    any Claude subject's output limit.
    """

    temperature: float | None = Field(None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=300_000)


def claude_sampling(sampling: Sampling, specs: list[str]) -> Sampling:
    """`sampling` validated against the Claude subjects among `specs`, max_tokens resolved.

    Raises ValueError (one line, naming the subject and why) for a temperature the subject's
    API refuses or a max_tokens above its output limit.
    """
    from welfare.models.claude_models import THINKING_DEFAULT_MAX_TOKENS, lookup

    rows = {spec: lookup(spec.partition(":")[2]) for spec in specs
            if spec.partition(":")[0] == "anthropic"}
    if sampling.temperature is not None:
        for spec, row in rows.items():
            if row is None or not row.sampling_params:
                raise ValueError(
                    f"sampling.temperature: {spec} refuses temperature (the Messages API, "
                    "version 2026-10-21, answers 400 to temperature/top_p/top_k); remove it")
    limits = [(spec, row.max_output_tokens) for spec, row in rows.items()
              if row is not None and row.max_output_tokens is not None]
    max_tokens = sampling.max_tokens
    if max_tokens is None:
        thinks = any(row is not None and row.thinks_by_default for row in rows.values())
        max_tokens = THINKING_DEFAULT_MAX_TOKENS if thinks else 1024
        max_tokens = min([max_tokens, *(limit for _, limit in limits)])
        return sampling.model_copy(update={"max_tokens": max_tokens})
    for spec, limit in limits:
        if max_tokens > limit:
            raise ValueError(
                f"sampling.max_tokens: {max_tokens} is above {spec}'s output limit of {limit}")
    return sampling


def claude_subject_options(index: int, spec: str, effort: str | None,
                           thinking: str | None) -> None:
    """Raise ValueError ("subjects.<i>.<key>: why") when a Claude subject's effort or thinking
    is one its model refuses (per the model table; unknown models are not checked)."""
    from welfare.models.claude_models import lookup

    if spec.partition(":")[0] != "anthropic":
        return
    row = lookup(spec.partition(":")[2])
    if row is None:
        return
    if effort is not None and effort not in row.efforts:
        raise ValueError(f"subjects.{index}.effort: {spec} takes no effort parameter")
    if thinking == "disabled" and row.thinking == "always":
        raise ValueError(f"subjects.{index}.thinking: {spec} always thinks; thinking cannot "
                         "be disabled (lower `effort` instead)")


class SubjectConfig(_Strict):
    """A subject to assess: a spec string plus optional per-subject limits."""

    spec: str
    label: str | None = None
    concurrency: int | None = Field(None, ge=1, le=1024)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    base_url: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float | None = Field(None, gt=0)
    transport: Literal["sdk", "direct"] | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    """`output_config.effort` for Claude models that take it (checked against the table)."""
    thinking: Literal["adaptive", "disabled"] | None = None
    """The `thinking` type; "disabled" is refused for models that always think."""

    def provider_options(self) -> dict[str, Any]:
        """Options this subject sets for its provider (runner-wide defaults are added later)."""
        options = {"base_url": self.base_url, "timeout": self.timeout_s,
                   "transport": self.transport, "effort": self.effort,
                   "thinking": self.thinking}
        return {k: v for k, v in options.items() if v is not None}

    @field_validator("spec")
    @classmethod
    def _has_backend(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("a subject spec is 'backend:name', e.g. 'simulated:harm-averse'")
        return value

    @model_validator(mode="after")
    def _provider_takes_options(self) -> SubjectConfig:
        from welfare.models.registry import PROVIDERS

        # An unregistered provider may still be given as a Model object from Python (tests,
        # notebooks); `load_model` refuses it with one line before any trial runs.
        provider = PROVIDERS.get(self.spec.partition(":")[0])
        if provider is None:
            return self
        given = set(self.provider_options()) | ({"api_key"} if self.api_key_env else set())
        refused = sorted(given - set(provider.options))
        if refused:
            raise ValueError(f"provider {provider.name!r} takes no {', '.join(refused)}")
        return self


class RunnerConfig(_Strict):
    """How trials are scheduled: concurrency window, retries, timeouts, batches.

    `timeout_s` is each API call's timeout. `transport` chooses how real-model requests are
    sent: "sdk" through `messages.create`, or "direct", the same request over aiohttp with the
    SDK client's URL and headers at a third of the CPU per call (for very high concurrency).
    """

    concurrency: int = Field(32, ge=1, le=1024)
    max_attempts: int = Field(6, ge=1, le=50)
    max_backoff_s: float = Field(60.0, gt=0)
    timeout_s: float = Field(120.0, gt=0)
    batch: bool = False
    transport: Literal["sdk", "direct"] = "sdk"


class CodersConfig(_Strict):
    """Which coders read the transcripts.

    `use` names registered coders (`welfare.coders.registry`) to run on every transcript; the
    judge joins them when `judge` names the model that judges.
    """

    use: list[str] = Field(default_factory=lambda: ["lexicon"])
    judge: str | None = None
    codebook: str = "builtin:coders/codebook.toml"
    lexicon: str = "builtin:coders/lexicon.toml"


class ParsingConfig(_Strict):
    """How answers are read (welfare/probes/answers.py, welfare/probes/reading.py).

    `reader` ("provider:model", any registered provider) reads only the answers the rules leave
    unparseable or low-confidence, plus a seeded `agreement_sample` share of the others so the
    report can give rules-vs-reader agreement. None: the rules alone.
    """

    reader: str | None = None
    agreement_sample: float = Field(0.1, ge=0.0, le=1.0)


class AssessmentConfig(_Strict):
    """A whole assessment. `source` is the file it came from (for relative bank paths)."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    subjects: list[SubjectConfig] = Field(..., min_length=1)
    sampling: Sampling = Sampling()
    runner: RunnerConfig = RunnerConfig()
    coders: CodersConfig = CodersConfig()
    parsing: ParsingConfig = ParsingConfig()
    probes: dict[str, Any] = Field(default_factory=dict)
    source: Path | None = None

    @field_validator("subjects", mode="before")
    @classmethod
    def _strings_are_specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"spec": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _fits_claude_models(self) -> AssessmentConfig:
        """Sampling and each subject's effort / thinking checked against the Claude model
        table; an unset `max_tokens` resolved (see `Sampling`)."""
        for i, subject in enumerate(self.subjects):
            claude_subject_options(i, subject.spec, subject.effort, subject.thinking)
        sampling = claude_sampling(self.sampling, [s.spec for s in self.subjects])
        object.__setattr__(self, "sampling", sampling)  # frozen: set once, while validating
        return self

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def probe_options(self, name: str) -> Any:
        """The validated options of probe `name` (set by `load_config`)."""
        return self.probes[name]


def load_config(path: str | Path | None = None) -> AssessmentConfig:
    """Read and validate an assessment config; `None` is the built-in default assessment."""
    file = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        with file.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(file, None, "is a folder, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, None, f"not UTF-8 text (byte {exc.start + 1}: {exc.reason})"
                          ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(file, None, f"cannot be read ({exc.strerror or exc})") from None
    return parse_config(raw, source=file)


def parse_config(raw: dict[str, Any], *, source: Path | None = None) -> AssessmentConfig:
    """Validate a config given as a dict (notebooks build configs this way)."""
    from welfare.probes import PROBES  # the registry imports probes, which import config

    raw = dict(raw)
    assessment = raw.pop("assessment", {})
    if not isinstance(assessment, dict):
        raise ConfigError(source, "assessment", "must be a table")
    merged = {**assessment, **raw}
    probes_raw = merged.pop("probes", {}) or {}
    if not isinstance(probes_raw, dict):
        raise ConfigError(source, "probes", "must be a table of [probes.<name>] tables")
    if "source" in merged:
        raise ConfigError(source, "source", "unknown key")
    try:
        config = AssessmentConfig(**merged, source=source)
    except ValidationError as exc:
        raise _config_error(source, exc, prefix="") from None
    _refuse_duplicate_subjects(config)
    probes: dict[str, Any] = {}
    for name, options in probes_raw.items():
        if name not in PROBES:
            known = ", ".join(sorted(PROBES))
            raise ConfigError(source, f"probes.{name}", f"unknown probe (known: {known})")
        if not isinstance(options, dict):
            raise ConfigError(source, f"probes.{name}", "must be a table")
        try:
            probes[name] = PROBES[name].Options(**options)
        except ValidationError as exc:
            raise _config_error(source, exc, prefix=f"probes.{name}.") from None
    if not any(getattr(o, "enabled", True) for o in probes.values()):
        raise ConfigError(source, "probes", "no probe is enabled")
    return config.model_copy(update={"probes": probes})


def _refuse_duplicate_subjects(config: AssessmentConfig) -> None:
    """One line, at config time, for a subject listed twice (by spec, or by label).

    A duplicate would run (and pay for) every trial and then fail in analysis, whose tables
    are indexed by subject.
    """
    seen: dict[str, int] = {}
    labels: dict[str, int] = {}
    for i, subject in enumerate(config.subjects):
        if subject.spec in seen:
            raise ConfigError(
                config.source, f"subjects[{i}]",
                f"{subject.spec} is listed twice (subjects[{seen[subject.spec]}] and "
                f"subjects[{i}]); each subject may appear once",
            )
        seen[subject.spec] = i
        if subject.label is not None:
            if subject.label in labels:
                raise ConfigError(
                    config.source, f"subjects[{i}].label",
                    f"label {subject.label!r} is used twice (subjects[{labels[subject.label]}] "
                    f"and subjects[{i}])",
                )
            labels[subject.label] = i


def _config_error(source: Path | None, exc: ValidationError, *, prefix: str) -> ConfigError:
    """The first validation problem as one line: file, dotted key, reason."""
    err = exc.errors()[0]
    key = prefix + ".".join(str(p) for p in err["loc"]) if err["loc"] else prefix.rstrip(".")
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "value_error" and not err["loc"]:  # a whole-config check: "key: why"
        key, _, message = str(err["msg"]).removeprefix("Value error, ").partition(": ")
    elif "input" in err and err["type"] not in ("missing",):
        message = f"{message} (got {err['input']!r})"
    return ConfigError(source, key or None, message)
