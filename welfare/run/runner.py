"""The runner: conducts trials concurrently, with one retry layer, resume and a progress line.

A fixed pool of workers pulls trials from the design as it streams past (a sliding window that
never holds more than `concurrency` trials in memory; completed trials are skipped by an
indexed lookup, not by copying the design). Each model call goes through `CallingModel`, which
answers from the store when the request was answered before (or is being answered right now
for another trial) and otherwise calls the backend inside the subject's flow control — an
adaptive concurrency limit that halves on 429/529 and grows back, and optional requests- and
tokens-per-minute buckets — retrying retryable failures with backoff that honours
`retry-after`. This is the only retry layer: backends never retry. Every response is queued
for the store's writer thread the moment it arrives, and a trial's row after its responses:
they commit in that order (group commits, off the event loop), so a stored trial always has
its responses stored, and a response once stored is never asked for again. A trial whose call
still fails is marked failed with its cause and the run goes on; a trial that cannot be
written (a probe bug) is counted as failed with `store_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import TextIO

from welfare.errors import ModelError
from welfare.models.base import Model, Request, Response, Usage
from welfare.models.pricing import estimate_cost
from welfare.probes.base import Probe, TrialContext
from welfare.records import Trial
from welfare.run.batches import MAX_REQUESTS, BatchingModel, recover_batches, supports_batches
from welfare.run.limits import AdaptiveLimit, RateLimiter
from welfare.run.store import Store, request_key


@dataclass
class Meter:
    """Running totals for the progress line and the manifest.

    Cost is added call by call (`estimate_cost(..., single_call=True)`): cache and batch
    prices apply per call, and a model with no price makes the total unknown (None).
    """

    calls: int = 0
    cached_calls: int = 0
    retries: int = 0
    usage: dict[str, Usage] = field(default_factory=dict)
    _cost: float = 0.0
    _unpriced: set[str] = field(default_factory=set)

    def add(self, model: str, response: Response) -> None:
        if response.cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.usage[model] = self.usage.get(model, Usage()) + response.usage
        cost = estimate_cost(model, response.usage, single_call=True)
        if cost is None:
            self._unpriced.add(model)
        else:
            self._cost += cost

    @property
    def tokens(self) -> Usage:
        total = Usage()
        for u in self.usage.values():
            total = total + u
        return total

    @property
    def cost_usd(self) -> float | None:
        """USD so far; None when some model that was called has no price."""
        return None if self._unpriced else self._cost


class CallingModel:
    """A Model seen through the store: cached answers, one retry layer, usage metering.

    Concurrent calls with the same request hash share one backend call.
    """

    def __init__(
        self,
        inner: Model,
        store: Store,
        meter: Meter,
        *,
        max_attempts: int = 6,
        max_backoff_s: float = 60.0,
        limit: AdaptiveLimit | None = None,
        rate: RateLimiter | None = None,
    ) -> None:
        self.inner = inner
        self.store = store
        self.meter = meter
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self.limit = limit
        self.rate = rate
        self._pending: dict[str, asyncio.Future[Response]] = {}

    @property
    def spec(self) -> str:
        return self.inner.spec

    @property
    def simulated(self) -> bool:
        return self.inner.simulated

    async def aclose(self) -> None:
        """Close the inner model's HTTP connections (if it has any)."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    async def generate(self, request: Request) -> Response:
        """The answer to `request`: from the store, or from the backend (retried); an empty or
        truncated answer from a real model is asked again once, then fails (`answer_checked`).
        """
        prepare = getattr(self.inner, "prepare", None)
        if prepare is not None:  # the subject's own options (effort, thinking) enter the hash
            request = prepare(request)
        response = await self._answer(request)
        return await self._answer_checked(request, response)

    async def _answer_checked(self, request: Request, response: Response) -> Response:
        """`response` if it is an answer; else the answer to the same request marked as a
        retry (a new request hash, so a new call and a new cache key), else ModelError.

        Empty means no visible text and no tool call; truncated means `stop_reason`
        "max_tokens". The failed answer stays stored (it was paid for), so a resume finds
        it and the retry's answer without calling again, and fails the trial the same way
        instead of replaying the empty answer into the dialogue. Simulated subjects are
        exempt: their silences are scripted behaviour.
        """
        if self.inner.simulated:
            return response
        cause = answer_problem(response)
        if cause is None:
            return response
        if request.metadata.get(RETRY_KEY) is None:
            retry = dataclasses.replace(
                request, metadata={**request.metadata, RETRY_KEY: cause})
            return await self._answer_checked(retry, await self._answer(retry))
        what = "no visible answer" if cause == "empty_answer" else "an answer cut at max_tokens"
        raise ModelError(f"{what} twice (stop_reason {response.stop_reason})", kind=cause)

    async def _answer(self, request: Request) -> Response:
        key, _ = request_key(request, self.spec)
        pending = self._pending.get(key)
        if pending is not None:  # the same request is in flight for another trial
            response = _as_cached(await asyncio.shield(pending))
            self.meter.add(self.spec, response)
            return response
        cached = self.store.cached_response(key)
        if cached is not None:
            self.meter.add(self.spec, cached)
            return cached
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            response = await self._call_with_retries(request)
        except BaseException as exc:
            del self._pending[key]
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        future.set_result(response)
        # Stored at once, in queue order; the probe goes on without waiting for the commit
        # (waiting would not make the answer durable any sooner). Until it is committed, a
        # repeat of the request is answered from `_pending`.
        stored = self.store.put_response_nowait(key, self.spec, response)
        stored.add_done_callback(lambda f: self._stored(key, f))
        self.meter.add(self.spec, response)
        return response

    def _stored(self, key: str, stored: asyncio.Future[None]) -> None:
        """The response of `key` is committed (or its write failed: the trial's write will
        fail too and say why); from now on the store answers repeats."""
        self._pending.pop(key, None)
        if not stored.cancelled():
            stored.exception()

    async def _call_with_retries(self, request: Request) -> Response:
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self._call_once(request)
            except ModelError as exc:
                if self.limit is not None and exc.kind in ("rate_limit", "overloaded"):
                    self.limit.rate_limited()
                if not exc.retryable or attempt == self.max_attempts:
                    raise
                self.meter.retries += 1
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
            else:
                if self.limit is not None:
                    self.limit.success()
                return response
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _call_once(self, request: Request) -> Response:
        """One attempt, inside the rate limits and the adaptive concurrency limit."""
        estimate = _estimate_tokens(request)
        if self.rate is not None:
            await self.rate.acquire(estimate)
        if self.limit is None:
            response = await self.inner.generate(request)
        else:
            async with self.limit:
                response = await self.inner.generate(request)
        if self.rate is not None:
            used = response.usage.input_tokens + response.usage.output_tokens
            self.rate.settle(estimate, used)
        return response

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Honour `retry-after` when given; otherwise capped exponential backoff with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        base = min(self.max_backoff_s, 0.5 * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)


RETRY_KEY = "answer_retry"
"""Request metadata that marks the one retry of an empty or truncated answer."""


def answer_problem(response: Response) -> str | None:
    """`empty_answer`, `max_tokens` (truncated), or None for a usable answer."""
    if response.stop_reason == "max_tokens":
        return "max_tokens"
    if not response.has_answer:
        return "empty_answer"
    return None


def _as_cached(response: Response) -> Response:
    """The same response, marked as answered without a new call."""
    return dataclasses.replace(response, cached=True)


def _estimate_tokens(request: Request) -> int:
    """A pre-call token estimate for rate limiting: about 4 characters a token, plus output."""
    chars = len(request.system or "") + sum(
        len(str(m.get("content", ""))) for m in request.messages
    )
    return chars // 4 + request.max_tokens // 2


@dataclass
class RunSummary:
    """What a run did: counts by outcome, failures by cause, tokens, cost, wall time."""

    planned: int
    skipped: int
    done: int
    failed: int
    failures: Counter[str]
    meter: Meter
    seconds: float
    interrupted: bool = False

    def closing_line(self) -> str:
        parts = [
            f"{self.planned} trials: {self.skipped + self.done} complete "
            f"({self.done} this run, {self.skipped} already stored)"
        ]
        if self.failed:
            causes = ", ".join(f"{c} ×{n}" for c, n in self.failures.most_common())
            parts.append(f"{self.failed} failed: {causes}")
        else:
            parts.append("0 failed")
        tokens = self.meter.tokens
        parts.append(
            f"{self.meter.calls} model calls ({self.meter.cached_calls} answered from the store, "
            f"{self.meter.retries} retries), {tokens.input_tokens:,} input / "
            f"{tokens.output_tokens:,} output tokens"
        )
        cost = self.meter.cost_usd
        if cost is not None and cost > 0:
            parts.append(f"≈ ${cost:,.2f}")
        if self.interrupted:
            parts.append("INTERRUPTED: finished trials are kept; run again to resume")
        return "; ".join(parts) + f" in {self.seconds:.1f} s."


class Progress:
    """A single self-rewriting status line on a terminal (plain lines when not a TTY)."""

    def __init__(
        self, total: int, meter: Meter, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total = total
        self.meter = meter
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._tty = self.stream.isatty()

    def update(self, *, done: int = 0, failed: int = 0, skipped: int = 0) -> None:
        self.done += done
        self.failed += failed
        self.skipped += skipped
        now = time.monotonic()
        interval = 0.1 if self._tty else 5.0
        if self.enabled and (now - self._last >= interval or self.finished):
            self._last = now
            self._write(self.line())

    @property
    def finished(self) -> bool:
        return self.skipped + self.done + self.failed >= self.total

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        n = self.skipped + self.done + self.failed
        rate = (self.done + self.failed) / elapsed
        eta = (self.total - n) / rate if rate > 0 else float("inf")
        tokens = self.meter.tokens
        eta_text = f"{eta:,.0f}s" if eta != float("inf") else "?"
        cost = self.meter.cost_usd
        cost_text = f" · ≈${cost:,.2f}" if cost else ""
        return (
            f"{n}/{self.total} trials ({self.failed} failed) · {rate:,.1f}/s · ETA {eta_text} · "
            f"tokens {tokens.input_tokens:,} in / {tokens.output_tokens:,} out{cost_text}"
        )

    def _write(self, line: str) -> None:
        if self._tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if self.finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class Runner:
    """Conducts trials against subjects through the store; see the module docstring."""

    def __init__(
        self,
        store: Store,
        models: dict[str, Model],
        *,
        concurrency: int = 32,
        max_attempts: int = 6,
        max_backoff_s: float = 60.0,
        subject_limits: dict[str, int] | None = None,
        rate_limits: dict[str, tuple[float | None, float | None]] | None = None,
        progress: bool = True,
        stream: TextIO | None = None,
        batch: bool = False,
        batch_poll_s: float = 10.0,
    ) -> None:
        self.store = store
        self.meter = Meter()
        self.batching: dict[str, BatchingModel] = {}
        if batch:
            # Every trial in flight at once: each waits on its batch, not on a connection.
            concurrency = max(concurrency, MAX_REQUESTS)
            for spec, model in list(models.items()):
                if supports_batches(model):
                    self.batching[spec] = BatchingModel(model, store, poll_s=batch_poll_s)  # type: ignore[arg-type]
            models = {**models, **self.batching}
        self.concurrency = concurrency
        self.progress_enabled = progress
        self.stream = stream
        limits = subject_limits or {}
        rates = rate_limits or {}
        self.models = {
            spec: CallingModel(
                model,
                store,
                self.meter,
                max_attempts=max_attempts,
                max_backoff_s=max_backoff_s,
                limit=None
                if spec in self.batching
                else AdaptiveLimit(min(limits.get(spec, concurrency), concurrency)),
                rate=RateLimiter(*rates[spec])
                if spec in rates and spec not in self.batching
                else None,
            )
            for spec, model in models.items()
        }

    def context(self, trial: Trial) -> TrialContext:
        """The subject of `trial` and every other model of the run, all through the store."""
        return TrialContext(subject=self.models[trial.subject], helpers=dict(self.models))

    async def run(
        self, work: Iterable[tuple[Probe, Trial]], *, total: int | None = None
    ) -> RunSummary:
        """Conduct every trial not already complete in the store; return what happened.

        `work` may be a list or any iterable (a generator streams the design: nothing but the
        trials in flight is held); `total` sizes the progress line and the pool when `work`
        has no length.
        """
        start = time.monotonic()
        for batching in self.batching.values():
            await recover_batches(batching.backend, self.store, poll_s=batching.poll_s)
        if total is None:
            total = len(work) if isinstance(work, Sized) else 0
        progress = Progress(total, self.meter, self.stream, enabled=self.progress_enabled)
        failures: Counter[str] = Counter()
        counts = Counter[str]()
        queue = self._pending(work, counts, progress)
        backlog_limit = 4 * self.concurrency

        def settled(trial: Trial, stored: asyncio.Future[None]) -> None:
            """A trial's row is committed, or could not be written (a probe bug, a full disk)."""
            exc = None if stored.cancelled() else stored.exception()
            if exc is None:
                counts["done"] += 1
                progress.update(done=1)
                return
            cause = f"store_error: {type(exc).__name__}"
            failures[cause] += 1
            progress.update(failed=1)
            retry = self.store.fail_trial_nowait(trial, f"{cause}: {exc}"[:500])
            retry.add_done_callback(lambda f: f.cancelled() or f.exception())

        async def worker() -> None:
            for probe, trial in queue:
                result = await self._one(probe, trial)
                if isinstance(result, str):
                    failures[result] += 1
                    progress.update(failed=1)
                    continue
                result.add_done_callback(lambda f, t=trial: settled(t, f))
                if self.store.backlog() > backlog_limit:  # the disk is behind: wait for it
                    await result

        workers = min(self.concurrency, total) if total else self.concurrency
        interrupted = False
        try:
            await asyncio.gather(*(worker() for _ in range(max(workers, 1))))
            await self.store.flush_async()  # every queued trial committed and counted
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
            for batching in self.batching.values():
                await batching.interrupt()  # submitted batches stay recorded for the next run
            with contextlib.suppress(asyncio.CancelledError):
                await self.store.flush_async()  # finished trials are kept
        finally:
            self.store.stop_writer()  # everything still queued is committed
        return RunSummary(
            planned=max(total, counts["planned"]),
            skipped=counts["skipped"],
            done=counts["done"],
            failed=sum(failures.values()),
            failures=failures,
            meter=self.meter,
            seconds=time.monotonic() - start,
            interrupted=interrupted,
        )

    def _pending(
        self, work: Iterable[tuple[Probe, Trial]], counts: Counter[str], progress: Progress
    ) -> Iterator[tuple[Probe, Trial]]:
        """The trials of `work` not yet complete, lazily: one indexed lookup per trial."""
        resuming = self.store.status_counts().get("done", 0) > 0
        for probe, trial in work:
            counts["planned"] += 1
            if resuming and self.store.is_complete(trial.id):
                counts["skipped"] += 1
                progress.update(skipped=1)
                continue
            yield probe, trial

    async def _one(self, probe: Probe, trial: Trial) -> str | asyncio.Future[None]:
        """Conduct and parse one trial and queue it for the store (the future resolves when it
        is committed); or mark it failed and return the cause."""
        ctx = TrialContext(subject=self.models[trial.subject], helpers=self.models)
        try:
            exchanges = await probe.conduct(trial, ctx)
        except ModelError as exc:
            await self.store.fail_trial_async(trial, exc.cause + f": {exc.message}"[:500])
            return exc.cause
        observation = probe.parse(trial, exchanges)
        return self.store.complete_trial_nowait(trial, exchanges, observation)
