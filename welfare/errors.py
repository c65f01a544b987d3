"""Every exception the toolkit raises on purpose, in one place.

    WelfareError
    ├── ConfigError      a config file is malformed: names the file, the key and the problem
    ├── BankError        a bank (tasks, questions, scenarios, codebook) is malformed: same shape
    ├── SpecError        a subject spec string names no known backend or profile
    ├── InputError       an input file or output folder cannot be used (missing, a folder
    │                    where a file belongs, under a file, not writable): names the path
    ├── StoreError       the assessment store is unusable or belongs to another assessment
    │   ├── StoreBusy    another run holds the store's lock (its pid and start time)
    │   └── ConfigMismatch  the store was run with another config (what differs)
    ├── RunInterrupted   Ctrl-C during a run: finished trials are kept; `summary` says what ran
    └── ModelError       a model call failed; `retryable` says whether trying again may help
        └── RetryableModelError   rate limits, overload, 5xx, timeouts, dropped connections

Parsers never raise: an answer that cannot be read is an invalid observation.
"""

from __future__ import annotations

from pathlib import Path


class WelfareError(Exception):
    """Base class of the toolkit's own errors."""


class _LocatedError(WelfareError):
    """An error in a file, at a key: rendered as one line `file: key: problem`."""

    def __init__(self, file: str | Path | None, key: str | None, problem: str) -> None:
        self.file = str(file) if file is not None else None
        self.key = key
        self.problem = problem
        parts = [p for p in (self.file, key) if p]
        super().__init__(": ".join([*parts, problem]))


class ConfigError(_LocatedError):
    """A malformed assessment config."""


class BankError(_LocatedError):
    """A malformed stimulus bank (tasks, self-report items, scenarios, codebook, lexicon)."""


class SpecError(WelfareError):
    """A subject spec such as `simulated:nonexistent` that names nothing we can build."""


class InputError(_LocatedError):
    """An input file or output folder that cannot be used: `path: problem`."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(path, None, problem)


class StoreError(WelfareError):
    """The store cannot be opened or does not match the assessment being run."""


class StoreBusy(StoreError):
    """Another live run holds this store's lock; nothing was written."""


class ConfigMismatch(StoreError):
    """The store holds a run of another config; `--force-new` starts a fresh one."""


class RunInterrupted(WelfareError):
    """A run stopped by Ctrl-C; finished trials are in the store and the next run resumes."""

    def __init__(self, summary: object) -> None:
        self.summary = summary
        super().__init__("interrupted; finished trials are kept — run again to resume")


class ModelError(WelfareError):
    """A model call that failed; the trial that made it is marked failed with this cause."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: str = "error",
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.kind = kind
        self.retry_after = retry_after
        prefix = f"{kind} ({status})" if status is not None else kind
        super().__init__(f"{prefix}: {message}")

    @property
    def cause(self) -> str:
        """A short, countable cause for the run's closing line, e.g. `rate_limit (429)`."""
        return f"{self.kind} ({self.status})" if self.status is not None else self.kind


class RetryableModelError(ModelError):
    """A failure that may pass: rate limit, overload, server error, timeout, connection."""

    retryable = True
