"""The assessment store: one SQLite file (WAL) holding trials, exchanges, observations, codes.

A trial's exchanges, transcript and observation are written in one transaction when it
finishes, so a trial is complete or absent. Every model response is also kept by request hash
the moment it arrives, so no completed request is paid for twice: not after a crash, not
inside a half-finished dialogue. Everything exports to pandas (`frames()`).

The runner writes through the `*_async` / `*_nowait` methods: a writer thread with its own
connection commits whatever is queued in one transaction (group commit), in queue order, and
only then resolves the callers' futures; a trial's row, queued after its responses, is thus
committed with or after them, never before. SQLite runs with the GIL released, off the event
loop. Without a running writer (notebooks, coders) the plain methods write directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from welfare.errors import StoreError
from welfare.models.base import Request, Response, canonical_json
from welfare.records import Exchange, Frames, Observation, Trial

Write = Callable[[sqlite3.Connection], None]
"""One unit of writing, run inside a transaction on the writing connection."""

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY, probe TEXT NOT NULL, subject TEXT NOT NULL,
    trial TEXT NOT NULL, status TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS exchanges (
    trial_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
    request_hash TEXT NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, latency_s REAL NOT NULL,
    cached INTEGER NOT NULL, PRIMARY KEY (trial_id, seq)
);
CREATE TABLE IF NOT EXISTS observations (
    trial_id TEXT PRIMARY KEY, probe TEXT NOT NULL, subject TEXT NOT NULL, valid INTEGER NOT NULL,
    data TEXT NOT NULL, raw_text TEXT NOT NULL, invalid_reason TEXT
);
CREATE TABLE IF NOT EXISTS transcripts (
    trial_id TEXT PRIMARY KEY, probe TEXT NOT NULL, subject TEXT NOT NULL, messages TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    request_hash TEXT PRIMARY KEY, model TEXT NOT NULL, response TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS codes (
    coder TEXT NOT NULL, trial_id TEXT NOT NULL, turn INTEGER NOT NULL, label TEXT NOT NULL,
    evidence TEXT NOT NULL, start INTEGER, "end" INTEGER, probe TEXT, subject TEXT
);
CREATE INDEX IF NOT EXISTS codes_by_coder ON codes (coder, trial_id);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, subject TEXT NOT NULL, status TEXT NOT NULL,
    request_hashes TEXT NOT NULL, created REAL NOT NULL
);
"""


class Store:
    """One assessment's SQLite file. Safe to reopen; refuses a store of another assessment."""

    def __init__(self, path: str | Path, *, assessment: str | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _connect(self.path)
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable assessment store ({exc})") from None
        self._writer: _Writer | None = None
        self._writer_lock = threading.Lock()
        if assessment is not None:
            self._claim(assessment)

    def _claim(self, assessment: str) -> None:
        found = self.meta("assessment")
        if found is None:
            self.set_meta("assessment", assessment)
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif found != assessment:
            raise StoreError(
                f"{self.path} holds assessment {found!r}, not {assessment!r}; "
                "choose another --out folder (or --force-new to move the old store aside)"
            )

    def close(self) -> None:
        """Commit whatever is queued, stop the writer thread, close the connection."""
        self.stop_writer()
        self._db.close()

    # -- writing ---------------------------------------------------------------------------
    def _write(self, write: Write) -> None:
        """Run `write` in a transaction: through the writer thread if one runs, else here."""
        writer = self._writer
        if writer is not None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            writer.submit(write, done)
            done.result()
            return
        with self._transaction() as db:
            write(db)

    async def _write_async(self, write: Write) -> None:
        """Queue `write` for the writer thread; return once its group is committed."""
        await self._write_nowait(write)

    def _write_nowait(self, write: Write) -> asyncio.Future[None]:
        """Queue `write` for the writer thread; the future resolves once it is committed.

        Writes commit in the order they were queued, so a write queued after another is never
        durable before it.
        """
        writer = self._writer or self._start_writer()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        writer.submit(write, future)
        return future

    def backlog(self) -> int:
        """Writes queued for the writer thread and not yet taken (0 without a writer)."""
        writer = self._writer
        return 0 if writer is None else writer.backlog()

    async def flush_async(self) -> None:
        """Return once everything queued so far is committed (and its callers woken)."""
        if self._writer is not None:
            await self._write_async(lambda db: None)

    def _start_writer(self) -> _Writer:
        with self._writer_lock:
            if self._writer is None:
                self._writer = _Writer(self.path)
            return self._writer

    def stop_writer(self) -> None:
        """Commit everything queued and stop the writer thread (idempotent)."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write(
            lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        )

    # -- responses by request hash ---------------------------------------------------------
    def cached_response(self, request_hash: str) -> Response | None:
        row = self._db.execute(
            "SELECT response FROM responses WHERE request_hash = ?", (request_hash,)
        ).fetchone()
        return None if row is None else Response.from_dict(json.loads(row[0]), cached=True)

    def put_response(self, request_hash: str, model: str, response: Response) -> None:
        """Keep a response the moment it arrives (its own transaction)."""
        self.put_responses([(request_hash, model, response)])

    def put_responses(self, items: Sequence[tuple[str, str, Response]]) -> None:
        """Keep several responses in one transaction (e.g. a recovered batch)."""
        now = time.time()
        rows = [(key, model, response_json(r), now) for key, model, r in items]
        self._write(lambda db: db.executemany(_PUT_RESPONSE, rows))

    async def put_response_async(self, request_hash: str, model: str, response: Response) -> None:
        """`put_response` through the writer thread: durable when it returns."""
        await self.put_response_nowait(request_hash, model, response)

    def put_response_nowait(
        self, request_hash: str, model: str, response: Response
    ) -> asyncio.Future[None]:
        """Queue a response for the writer thread; the future resolves once it is durable."""
        row = (request_hash, model, response_json(response), time.time())
        return self._write_nowait(lambda db: db.execute(_PUT_RESPONSE, row))

    def response_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- trials ----------------------------------------------------------------------------
    def trial_ids(self) -> set[str]:
        """Every stored trial's id, whatever its status."""
        return {r[0] for r in self._db.execute("SELECT trial_id FROM trials")}

    def completed_ids(self) -> set[str]:
        rows = self._db.execute("SELECT trial_id FROM trials WHERE status = 'done'")
        return {r[0] for r in rows}

    def status_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    def complete_trial(
        self, trial: Trial, exchanges: list[Exchange], observation: Observation
    ) -> None:
        """Write a finished trial whole: trial row, exchanges, transcript, observation."""
        self._write(_trial_write(trial, exchanges, observation))

    async def complete_trial_async(
        self, trial: Trial, exchanges: list[Exchange], observation: Observation
    ) -> None:
        """`complete_trial` through the writer thread: committed when it returns."""
        await self.complete_trial_nowait(trial, exchanges, observation)

    def complete_trial_nowait(
        self, trial: Trial, exchanges: list[Exchange], observation: Observation
    ) -> asyncio.Future[None]:
        """Queue a finished trial (serialised now); the future resolves once it is committed.

        Queued after its responses, it is committed with or after them, never before.
        """
        return self._write_nowait(_trial_write(trial, exchanges, observation))

    def fail_trial(self, trial: Trial, cause: str) -> None:
        """Mark a trial failed with its cause; it is tried again when the run is resumed."""
        self._write(_fail_write(trial, cause))

    async def fail_trial_async(self, trial: Trial, cause: str) -> None:
        """`fail_trial` through the writer thread."""
        await self.fail_trial_nowait(trial, cause)

    def fail_trial_nowait(self, trial: Trial, cause: str) -> asyncio.Future[None]:
        """Queue `fail_trial` for the writer thread."""
        return self._write_nowait(_fail_write(trial, cause))

    def is_complete(self, trial_id: str) -> bool:
        """Whether `trial_id` is stored as done (one indexed lookup; for streaming designs)."""
        row = self._db.execute(
            "SELECT 1 FROM trials WHERE trial_id = ? AND status = 'done'", (trial_id,)
        ).fetchone()
        return row is not None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- codes -----------------------------------------------------------------------------
    def replace_codes(self, coder: str, codes: pd.DataFrame) -> None:
        """Replace everything `coder` wrote with `codes` (columns as in the codes table)."""
        cols = [
            "coder",
            "trial_id",
            "turn",
            "label",
            "evidence",
            "start",
            "end",
            "probe",
            "subject",
        ]
        frame = codes.assign(coder=coder).reindex(columns=cols)
        rows = [
            tuple(None if _is_missing(v) else v for v in row)
            for row in frame.itertuples(index=False, name=None)
        ]

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM codes WHERE coder = ?", (coder,))
            db.executemany("INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

        self._write(write)

    # -- batches ---------------------------------------------------------------------------
    def record_batch(self, batch_id: str, subject: str, request_hashes: list[str]) -> None:
        row = (batch_id, subject, json.dumps(request_hashes), time.time())
        self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, 'submitted', ?, ?)", row
            )
        )

    def set_batch_status(self, batch_id: str, status: str) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE batches SET status = ? WHERE batch_id = ?", (status, batch_id)
            )
        )

    def finish_batch(self, batch_id: str, answered: Sequence[tuple[str, str, Response]]) -> None:
        """Keep a batch's answers and mark it done, in one transaction (never done first)."""
        self._write(_finish_batch_write(batch_id, answered))

    async def finish_batch_async(
        self, batch_id: str, answered: Sequence[tuple[str, str, Response]]
    ) -> None:
        """`finish_batch` through the writer thread."""
        await self._write_async(_finish_batch_write(batch_id, answered))

    def open_batches(self, subject: str) -> list[tuple[str, list[str]]]:
        rows = self._db.execute(
            "SELECT batch_id, request_hashes FROM batches WHERE subject = ? AND status != 'done'",
            (subject,),
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    # -- export ----------------------------------------------------------------------------
    def transcripts(self, probe: str | None = None) -> Iterator[tuple[str, str, str, list[Any]]]:
        """Stream (trial_id, probe, subject, messages) without loading the whole table."""
        sql = "SELECT trial_id, probe, subject, messages FROM transcripts"
        args: tuple[Any, ...] = ()
        if probe is not None:
            sql += " WHERE probe = ?"
            args = (probe,)
        for trial_id, p, subject, messages in self._db.execute(sql + " ORDER BY trial_id", args):
            yield trial_id, p, subject, json.loads(messages)

    def frames(self) -> Frames:
        """All tables as DataFrames; observation `data` and trial conditions become columns."""
        trials = self._read(
            "SELECT trial_id, probe, subject, trial, status, error, attempts FROM trials"
        )
        if len(trials):
            specs = trials.pop("trial").map(json.loads)
            trials["items"] = specs.map(lambda s: tuple(s["items"]))
            trials["replicate"] = specs.map(lambda s: s["replicate"])
            cond = pd.json_normalize(specs.map(lambda s: s["condition"]).tolist())
            cond.columns = [f"condition.{c}" for c in cond.columns]
            trials = pd.concat([trials, cond.set_index(trials.index)], axis=1)
        else:
            trials = trials.drop(columns=["trial"])
        obs = self._read("SELECT * FROM observations")
        if len(obs):
            data = pd.json_normalize(obs.pop("data").map(json.loads).tolist(), max_level=0)
            data = data.drop(columns=[c for c in data.columns if c in obs.columns])
            obs = pd.concat([obs, data.set_index(obs.index)], axis=1)
            obs["valid"] = obs["valid"].astype(bool)
        else:
            obs = obs.drop(columns=["data"])
        exchanges = self._read(
            "SELECT e.trial_id, t.probe, t.subject, e.seq, e.role, e.model, e.request_hash, "
            "e.input_tokens, e.output_tokens, e.latency_s, e.cached "
            "FROM exchanges e JOIN trials t USING (trial_id)"
        )
        transcripts = self._read("SELECT * FROM transcripts")
        transcripts["messages"] = transcripts["messages"].map(json.loads)
        codes = self._read("SELECT * FROM codes")
        return Frames(trials, obs, exchanges, transcripts, codes)

    def exchange_usage(self) -> pd.DataFrame:
        """Per paid exchange (not answered from the store): model, the stored `usage` dict and
        the API's own `usage` (cache and batch fields), read without loading the full JSON."""
        frame = self._read(
            "SELECT model, json_extract(response, '$.usage') AS usage, "
            "json_extract(response, '$.raw.usage') AS api_usage FROM exchanges WHERE cached = 0"
        )
        for column in ("usage", "api_usage"):
            # json_extract gives NULL (NaN in the frame) where a response has no usage
            frame[column] = frame[column].map(lambda u: json.loads(u) if isinstance(u, str)
                                              and u else {})
        return frame

    def exchange_payloads(self, trial_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Exchanges with their full request and response JSON (large: ask for what you need)."""
        frame = self._read(
            "SELECT e.*, t.probe, t.subject FROM exchanges e JOIN trials t USING (trial_id)"
        )
        if trial_ids is not None:
            frame = frame[frame["trial_id"].isin(set(trial_ids))]
        frame["request"] = frame["request"].map(json.loads)
        frame["response"] = frame["response"].map(json.loads)
        return frame.reset_index(drop=True)

    def _read(self, sql: str) -> pd.DataFrame:
        cur = self._db.execute(sql)
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error: a trial is written whole or not at all."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


_PUT_RESPONSE = "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)"
_MAX_GROUP = 2000
"""Most writes committed in one transaction by the writer thread."""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=30000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


Waiter = asyncio.Future[None] | concurrent.futures.Future[None]


class _Writer:
    """One thread, one connection: commits queued writes in groups, then wakes their callers.

    A group that fails is rolled back and its writes are retried one transaction each, so one
    bad write (e.g. an unbindable value) fails only its own caller.
    """

    def __init__(self, path: Path) -> None:
        self._db = _connect(path)
        self._queue: queue.SimpleQueue[tuple[Write, Waiter] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="welfare-store-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write, waiter: Waiter) -> None:
        self._queue.put((write, waiter))

    def backlog(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        running = True
        while running:
            jobs: list[tuple[Write, Waiter]] = []
            job = self._queue.get()
            while job is not None:
                jobs.append(job)
                if len(jobs) >= _MAX_GROUP:
                    break
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
            running = job is not None
            if jobs:
                self._settle(jobs, self._commit(jobs))
        self._db.close()

    def _commit(self, jobs: list[tuple[Write, Waiter]]) -> list[BaseException | None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for write, _ in jobs:
                write(self._db)
            self._db.execute("COMMIT")
            return [None] * len(jobs)
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if len(jobs) == 1:
                return [exc]
            return [_alone(self._db, write) for write, _ in jobs]

    @staticmethod
    def _settle(jobs: list[tuple[Write, Waiter]], outcomes: list[BaseException | None]) -> None:
        """Wake each caller: thread futures at once, asyncio futures one call per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Waiter, BaseException | None]]] = {}
        for (_, waiter), exc in zip(jobs, outcomes, strict=True):
            if isinstance(waiter, concurrent.futures.Future):
                _resolve(waiter, exc)
            else:
                by_loop.setdefault(waiter.get_loop(), []).append((waiter, exc))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve_all, items)


def _alone(db: sqlite3.Connection, write: Write) -> BaseException | None:
    """Run one write in its own transaction; return its exception, if any."""
    try:
        db.execute("BEGIN IMMEDIATE")
        write(db)
        db.execute("COMMIT")
        return None
    except BaseException as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return exc


def _resolve(waiter: Waiter, exc: BaseException | None) -> None:
    if waiter.done():
        return
    if exc is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(exc)


def _resolve_all(items: list[tuple[Waiter, BaseException | None]]) -> None:
    for waiter, exc in items:
        _resolve(waiter, exc)


def request_key(request: Request, subject: str) -> tuple[str, str]:
    """(`request.hash(subject)`, the request's canonical JSON) from one serialisation.

    Remembered on the (immutable) request, so the runner's cache lookup and the trial's
    exchange row serialise it once between them.
    """
    memo = request.__dict__.get("_welfare_key")
    if memo is not None and memo[0] == subject:
        return memo[1], memo[2]
    body = canonical_json(request.to_dict())
    keyed = '{"request":' + body + ',"subject":' + canonical_json(subject) + "}"
    key = hashlib.sha256(keyed.encode("utf-8")).hexdigest()
    object.__setattr__(request, "_welfare_key", (subject, key, body))
    return key, body


def response_json(response: Response) -> str:
    """`canonical_json(response.to_dict())` without `dataclasses.asdict`'s deep copies.

    Remembered on the (immutable) response: the responses table and the exchange row share it.
    """
    memo = response.__dict__.get("_welfare_json")
    if memo is not None:
        return str(memo)
    text = canonical_json(
        {
            "text": response.text,
            "content": list(response.content),
            "tool_calls": [
                {"id": c.id, "name": c.name, "input": c.input} for c in response.tool_calls
            ],
            "stop_reason": response.stop_reason,
            "usage": {f.name: getattr(response.usage, f.name)
                      for f in dataclasses.fields(response.usage)},
            "latency_s": response.latency_s,
            "model": response.model,
            "raw": response.raw,
        }
    )
    object.__setattr__(response, "_welfare_json", text)
    return text


def _trial_write(trial: Trial, exchanges: list[Exchange], observation: Observation) -> Write:
    """The write of a finished trial, its rows serialised now (in the caller)."""
    now = time.time()
    trial_row = (trial.id, trial.probe, trial.subject, _trial_json(trial), trial.id, now)
    exchange_rows = []
    for seq, ex in enumerate(exchanges):
        key, request = request_key(ex.request, ex.model)
        exchange_rows.append(
            (
                trial.id,
                seq,
                ex.role,
                ex.model,
                key,
                request,
                response_json(ex.response),
                ex.response.usage.input_tokens,
                ex.response.usage.output_tokens,
                ex.response.latency_s,
                int(ex.response.cached),
            )
        )
    transcript = canonical_json(observation.transcript) if observation.transcript else None
    observation_row = (
        trial.id,
        trial.probe,
        trial.subject,
        int(observation.valid),
        canonical_json(observation.data),
        observation.raw_text,
        observation.invalid_reason,
    )

    def write(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, 'done', NULL, "
            "COALESCE((SELECT attempts + 1 FROM trials WHERE trial_id = ?), 1), ?)",
            trial_row,
        )
        db.execute("DELETE FROM exchanges WHERE trial_id = ?", (trial.id,))
        db.executemany(
            "INSERT INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", exchange_rows
        )
        if transcript is not None:
            db.execute(
                "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?)",
                (trial.id, trial.probe, trial.subject, transcript),
            )
        db.execute(
            "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)", observation_row
        )

    return write


def _finish_batch_write(batch_id: str, answered: Sequence[tuple[str, str, Response]]) -> Write:
    now = time.time()
    rows = [(key, model, response_json(r), now) for key, model, r in answered]

    def write(db: sqlite3.Connection) -> None:
        db.executemany(_PUT_RESPONSE, rows)
        db.execute("UPDATE batches SET status = 'done' WHERE batch_id = ?", (batch_id,))

    return write


def _fail_write(trial: Trial, cause: str) -> Write:
    row = (trial.id, trial.probe, trial.subject, _trial_json(trial), cause, trial.id, time.time())

    def write(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, 'failed', ?, "
            "COALESCE((SELECT attempts + 1 FROM trials WHERE trial_id = ?), 1), ?)",
            row,
        )

    return write


def _trial_json(trial: Trial) -> str:
    return canonical_json(
        {
            "probe": trial.probe,
            "version": trial.probe_version,
            "subject": trial.subject,
            "items": list(trial.items),
            "condition": trial.condition,
            "replicate": trial.replicate,
            "sampling": trial.sampling,
            "template": trial.template_hash,
            "payload": trial.payload,
        }
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
