"""One run per output folder: an exclusive lock held for the whole run, released on any exit.

Two `welfare assess` on the same `--out` would both run every trial the other has not yet
stored, paying twice. The lock is an advisory `flock` on `DIR/.welfare.lock`; the file also
holds the holder's pid, host, command and start time, so a refused run can say who has it.
The kernel drops a `flock` when its process dies however it dies (exit, exception, Ctrl-C,
SIGKILL), so a lock file left behind by a dead run is stale by construction: the next run
takes it and says it recovered it. The file is emptied, never deleted, on release (deleting it
would let two runs lock two different files of the same name).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from welfare.errors import StoreBusy

LOCK_NAME = ".welfare.lock"


class FolderLock:
    """An exclusive, non-blocking lock on an output folder (`with FolderLock(dir): ...`)."""

    def __init__(self, folder: str | Path, *, what: str = "run") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.recovered: dict[str, Any] | None = None
        """The record of a stale lock (a run that died holding it) this lock replaced."""
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise StoreBusy naming the live holder's pid and start time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise StoreBusy(
                f"{self.folder} is in use by another {holder.get('what', 'run')} "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
                f"{holder.get('started', '?')}); wait for it to finish or choose another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        previous = _read(fd)
        self.recovered = previous or None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "command": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file and drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    """The holder record in the lock file ({} if empty or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        data = os.pread(fd, 4096, 0)
        record = json.loads(data) if data.strip() else {}
        return record if isinstance(record, dict) else {}
    return {}
