"""The assessment store: one SQLite file (WAL) holding trials, exchanges, observations, codes.

A trial's exchanges, transcript and observation are written in one transaction when it
finishes, so a trial is complete or absent. Every model response is also kept by request hash
the moment it arrives, so no completed request is paid for twice: not after a crash, not
inside a half-finished dialogue. Everything exports to pandas (`frames()`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from welfare.errors import StoreError
from welfare.models.base import Response, canonical_json
from welfare.records import Exchange, Frames, Observation, Trial

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
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable assessment store ({exc})") from None
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
                "choose another --out folder"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- responses by request hash ---------------------------------------------------------
    def cached_response(self, request_hash: str) -> Response | None:
        row = self._db.execute(
            "SELECT response FROM responses WHERE request_hash = ?", (request_hash,)
        ).fetchone()
        return None if row is None else Response.from_dict(json.loads(row[0]), cached=True)

    def put_response(self, request_hash: str, model: str, response: Response) -> None:
        """Keep a response the moment it arrives (its own transaction)."""
        self._db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)",
            (request_hash, model, canonical_json(response.to_dict()), time.time()),
        )

    def response_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- trials ----------------------------------------------------------------------------
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
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, 'done', NULL, "
                "COALESCE((SELECT attempts + 1 FROM trials WHERE trial_id = ?), 1), ?)",
                (trial.id, trial.probe, trial.subject, _trial_json(trial), trial.id, now),
            )
            db.execute("DELETE FROM exchanges WHERE trial_id = ?", (trial.id,))
            db.executemany(
                "INSERT INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        trial.id,
                        seq,
                        ex.role,
                        ex.model,
                        ex.request.hash(ex.model),
                        canonical_json(ex.request.to_dict()),
                        canonical_json(ex.response.to_dict()),
                        ex.response.usage.input_tokens,
                        ex.response.usage.output_tokens,
                        ex.response.latency_s,
                        int(ex.response.cached),
                    )
                    for seq, ex in enumerate(exchanges)
                ],
            )
            if observation.transcript:
                db.execute(
                    "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?)",
                    (trial.id, trial.probe, trial.subject, canonical_json(observation.transcript)),
                )
            db.execute(
                "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.id,
                    trial.probe,
                    trial.subject,
                    int(observation.valid),
                    canonical_json(observation.data),
                    observation.raw_text,
                    observation.invalid_reason,
                ),
            )

    def fail_trial(self, trial: Trial, cause: str) -> None:
        """Mark a trial failed with its cause; it is tried again when the run is resumed."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, 'failed', ?, "
                "COALESCE((SELECT attempts + 1 FROM trials WHERE trial_id = ?), 1), ?)",
                (
                    trial.id,
                    trial.probe,
                    trial.subject,
                    _trial_json(trial),
                    cause,
                    trial.id,
                    time.time(),
                ),
            )

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
        with self._transaction() as db:
            db.execute("DELETE FROM codes WHERE coder = ?", (coder,))
            db.executemany("INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # -- batches ---------------------------------------------------------------------------
    def record_batch(self, batch_id: str, subject: str, request_hashes: list[str]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO batches VALUES (?, ?, 'submitted', ?, ?)",
            (batch_id, subject, json.dumps(request_hashes), time.time()),
        )

    def set_batch_status(self, batch_id: str, status: str) -> None:
        self._db.execute("UPDATE batches SET status = ? WHERE batch_id = ?", (status, batch_id))

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
