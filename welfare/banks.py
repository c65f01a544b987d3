"""Loading what the toolkit says to a model: TOML banks and Jinja2 templates.

Built-in banks live in `welfare/prompts/` (shipped in the wheel); a config may point at a
researcher's own file instead. Every load error is a BankError naming the file and the key.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from welfare.errors import BankError
from welfare.models.base import sha256_hex

PROMPTS_DIR = Path(__file__).parent / "prompts"


def resolve(path: str | Path, *, relative_to: Path | None = None) -> Path:
    """A bank path: `builtin:<name>` is under prompts/, others are relative to the config."""
    text = str(path)
    if text.startswith("builtin:"):
        return PROMPTS_DIR / text.removeprefix("builtin:")
    p = Path(text).expanduser()
    if not p.is_absolute() and relative_to is not None:
        p = relative_to / p
    return p


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a BankError naming it."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise BankError(path, None, "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BankError(path, None, f"not valid TOML ({exc})") from None


def require(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], *, file: Path, where: str
) -> Any:
    """`table[key]` checked for presence and type; a BankError at `where.key` otherwise."""
    if key not in table:
        raise BankError(file, f"{where}.{key}" if where else key, "missing")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = "/".join(t.__name__ for t in _as_tuple(kind))
        raise BankError(
            file,
            f"{where}.{key}" if where else key,
            f"expected {names}, got {type(value).__name__} {value!r}",
        )
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Prompts are plain text sent to models, not HTML: no autoescaping here (reports escape).
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render a prompt template under prompts/ (e.g. `task_preference/choice.j2`)."""
    return _environment().get_template(template).render(**context).strip()


def template_hash(*templates: str) -> str:
    """A short hash of templates' source text: it enters trial ids, so edits make new trials."""
    sources = [(PROMPTS_DIR / t).read_text(encoding="utf-8") for t in templates]
    return sha256_hex(sources)[:16]
