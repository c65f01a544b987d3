"""Message Batches: the same probes, the same runner, half the price, no rate limits.

`BatchingModel` stands where a model stands. Each `generate` call parks its request; when no
new request has arrived for a moment (every trial is waiting) or a batch is full (100,000
requests or 256 MB), the parked requests go out as Message Batches. Multi-turn probes thus run
in lock-step rounds without knowing it. Results are joined on `custom_id` only, which is the
request hash, and batch ids are kept in the store before anything else happens, so a restarted
run collects the batches it had submitted instead of submitting them again; a batch's answers
are stored in the same transaction that marks it done. Every result is
reconciled: succeeded → the response; errored (retryable), expired or canceled → a
RetryableModelError that the runner's one retry layer sends round again; errored (not
retryable) → that trial fails with the cause.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from welfare.errors import ModelError, RetryableModelError
from welfare.models.base import Request, Response, canonical_json
from welfare.run.store import Store

MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024


class BatchBackend(Protocol):
    """What a backend offers for batches (AnthropicModel does)."""

    @property
    def spec(self) -> str: ...

    async def submit_batch(self, items: Sequence[tuple[str, Request]]) -> str: ...

    async def batch_status(self, batch_id: str) -> dict[str, Any]: ...

    def batch_results(self, batch_id: str) -> AsyncIterator[tuple[str, Response | ModelError]]: ...


def supports_batches(model: object) -> bool:
    return all(hasattr(model, m) for m in ("submit_batch", "batch_status", "batch_results"))


@dataclass
class _Parked:
    request: Request
    future: asyncio.Future[Response]
    size: int


class BatchingModel:
    """A Model that answers through Message Batches; see the module docstring."""

    simulated = False

    def __init__(
        self,
        backend: BatchBackend,
        store: Store,
        *,
        idle_s: float = 0.5,
        poll_s: float = 10.0,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
        log: Any = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.idle_s = idle_s
        self.poll_s = poll_s
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._parked: dict[str, _Parked] = {}
        self._bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._submitting: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.submitted = 0
        self.batches: list[str] = []

    @property
    def spec(self) -> str:
        return self.backend.spec

    async def generate(self, request: Request) -> Response:
        key = request.hash(self.spec)
        parked = self._parked.get(key)
        if parked is None:
            loop = asyncio.get_running_loop()
            size = len(canonical_json(request.api_params())) + 200
            parked = _Parked(request, loop.create_future(), size)
            self._parked[key] = parked
            self._bytes += size
            if len(self._parked) >= self.max_requests or self._bytes >= self.max_bytes:
                self._flush()
            else:
                self._arm_timer()
        return await asyncio.shield(parked.future)

    async def interrupt(self) -> None:
        """Stop flushing and polling (the run was interrupted); pending requests are dropped.

        A submission in progress is let finish so that its batch id is recorded: a batch the
        API accepted is never orphaned. Recorded batches are collected by the next run.
        """
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for parked in self._parked.values():
            parked.future.cancel()
        self._parked, self._bytes = {}, 0
        for task in list(self._tasks):
            if task not in self._submitting:
                task.cancel()
        if self._submitting:
            await asyncio.wait(list(self._submitting))

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_s, self._flush)

    def _flush(self) -> None:
        """Send what is parked as one or more batches (split by count and size)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        parked, self._parked, self._bytes = self._parked, {}, 0
        for chunk in _chunks(list(parked.items()), self.max_requests, self.max_bytes):
            task = asyncio.get_running_loop().create_task(self._run_batch(dict(chunk)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, chunk: dict[str, _Parked]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._submitting.add(task)  # `interrupt` waits for this part instead of cancelling it
        try:
            batch_id = await self.backend.submit_batch(
                [(key, p.request) for key, p in chunk.items()]
            )
        except ModelError as exc:
            _fail_all(chunk, exc)
            return
        else:
            self.store.record_batch(batch_id, self.spec, list(chunk))
            self.batches.append(batch_id)
            self.submitted += len(chunk)
            self.log(f"batch {batch_id}: {len(chunk)} requests submitted")
        finally:
            self._submitting.discard(task)
        if self._stopping:
            return
        try:
            results = await collect(self.backend, batch_id, poll_s=self.poll_s)
        except ModelError as exc:
            _fail_all(
                chunk,
                RetryableModelError(f"batch {batch_id}: {exc.message}", kind="batch_unavailable"),
            )
            return
        answered = [
            (key, self.spec, r)
            for key, r in results.items()
            if key in chunk and isinstance(r, Response)
        ]
        await self.store.finish_batch_async(batch_id, answered)  # durable before "done"
        for key, parked in chunk.items():
            outcome = results.get(key) or RetryableModelError(
                f"batch {batch_id} returned no result for this request", kind="batch_missing"
            )
            if parked.future.done():
                continue
            if isinstance(outcome, Response):
                parked.future.set_result(outcome)
            else:
                _set_exception(parked.future, outcome)


async def collect(
    backend: BatchBackend, batch_id: str, *, poll_s: float
) -> dict[str, Response | ModelError]:
    """Wait for a batch to end and return its results by custom_id."""
    while True:
        status = await backend.batch_status(batch_id)
        if status.get("processing_status") == "ended":
            break
        await asyncio.sleep(poll_s)
    results: dict[str, Response | ModelError] = {}
    async for custom_id, outcome in backend.batch_results(batch_id):
        results[custom_id] = outcome
    return results


async def recover_batches(
    backend: BatchBackend, store: Store, *, poll_s: float = 10.0, log: Any = None
) -> int:
    """Collect the batches a previous run submitted; keep every succeeded response.

    Returns how many responses were recovered. Failed items are not stored: the run that
    follows sends those requests again, in a new batch.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    recovered = 0
    for batch_id, hashes in store.open_batches(backend.spec):
        say(f"batch {batch_id}: collecting results submitted by an earlier run")
        results = await collect(backend, batch_id, poll_s=poll_s)
        wanted = set(hashes)
        answered = [
            (key, backend.spec, outcome)
            for key, outcome in results.items()
            if key in wanted and isinstance(outcome, Response)
        ]
        store.finish_batch(batch_id, answered)  # answers and "done" in one transaction
        recovered += len(answered)
    return recovered


def _fail_all(chunk: dict[str, _Parked], exc: ModelError) -> None:
    for parked in chunk.values():
        _set_exception(parked.future, exc)


def _set_exception(future: asyncio.Future[Response], exc: BaseException) -> None:
    """Fail a parked request; marked retrieved, since its trial may have stopped waiting."""
    if not future.done():
        future.set_exception(exc)
        future.exception()


def _chunks(
    items: list[tuple[str, _Parked]], max_requests: int, max_bytes: int
) -> list[list[tuple[str, _Parked]]]:
    chunks: list[list[tuple[str, _Parked]]] = [[]]
    size = 0
    for item in items:
        if chunks[-1] and (len(chunks[-1]) >= max_requests or size + item[1].size > max_bytes):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item[1].size
    return [c for c in chunks if c]
