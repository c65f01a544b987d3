"""Input and output paths checked before any work, and files replaced only when complete.

Every command checks its inputs and its output folder first (`check_input_file`,
`check_output_dir`), so a typo or a read-only folder costs one line and nothing else: no model
call, no emptied file. Outputs are written to a temporary file beside their target and moved
into place (`atomic_write_text`, `replace_all`), so a crash or Ctrl-C leaves the previous
results whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from welfare.errors import InputError


def check_input_file(path: str | Path) -> Path:
    """`path` as a readable regular file, or InputError naming what is wrong with it."""
    file = Path(path)
    if not file.exists():
        raise InputError(file, "file not found")
    if file.is_dir():
        raise InputError(file, "is a folder, not a file")
    try:
        with file.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(file, f"cannot be read ({exc.strerror or exc})") from None
    return file


def check_output_dir(out: str | Path, files: Iterable[str] = (),
                     folders: Iterable[str] = ()) -> Path:
    """`out` as a folder we can create or write into, with `files` writable inside it.

    Nothing is created: an output folder that does not exist yet is checked through its
    nearest existing parent. `files` are names inside `out` the command will replace; one that
    exists as a folder is refused now rather than after all the work; so is one of `folders`
    (sub-folders it will write into) that exists as a file.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "is a file, not a folder (choose another --out)")
    probe = folder
    while not probe.exists():
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if probe.exists() and not probe.is_dir():
        raise InputError(folder, f"is under {probe}, which is a file (choose another --out)")
    _check_writable(probe, folder)
    for name in files:
        target = folder / name
        if target.exists() and target.is_dir():
            raise InputError(target, "is a folder where an output file belongs; move it away")
        if target.exists() and not os.access(target, os.W_OK):
            raise InputError(target, "is not writable")
    for name in folders:
        target = folder / name
        if target.exists() and not target.is_dir():
            raise InputError(target, "is a file where an output folder belongs; move it away")
    return folder


def _check_writable(existing: Path, wanted: Path) -> None:
    """Create and remove a temporary file in `existing` (the only sure test, also as root)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".welfare-write-check-", dir=existing)
    except OSError as exc:
        where = "" if existing == wanted else f" (its parent {existing})"
        raise InputError(wanted, f"is not writable{where}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def temp_path(target: Path) -> Path:
    """A fresh temporary file beside `target` (same filesystem, so `os.replace` is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


def atomic_write_text(target: Path, text: str) -> None:
    """Write `text` to `target` through a temporary file: `target` is old or new, never half."""
    tmp = temp_path(target)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def replace_all(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Move each finished temporary file onto its target, in order."""
    for tmp, target in pairs:
        os.replace(tmp, target)
