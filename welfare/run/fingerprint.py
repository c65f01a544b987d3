"""One config per store: the design a store was run with, and what another config changes.

A store's trials are analysed with the config it holds, so a second config under the same
`--out` would mix two designs in one report (its closing line counting one, its report
analysing both). `design_identity` is the part of a config that decides which trials exist and
what they ask: seed, subjects (spec and label), sampling, coders and every probe's options —
not the runner's scheduling (concurrency, retries, timeouts, batches, transport) nor a
subject's rate limits, which change how fast, not what. The store keeps it (`meta.design`)
with its hash (`meta.fingerprint`); a run whose identity differs is refused with one line
naming the keys that differ, unless

- `--force-new`: the old store is moved aside (`assessment.replaced-<time>.sqlite`, nothing
  deleted) and a fresh one begins; or
- `--extend`: the new config keeps every trial already stored (more replicates, subjects,
  items or probes); it is accepted only if every stored trial is in the new design, and the
  store then records the new config.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig
    from welfare.run.store import Store

_SCHEDULING = ("concurrency", "requests_per_minute", "tokens_per_minute", "timeout_s",
               "transport")
"""Subject keys that change how fast trials run, not which trials exist or what they ask."""


def design_identity(config: AssessmentConfig) -> dict[str, Any]:
    """The part of `config` that decides the trials and their requests (JSON-ready)."""
    data = json.loads(config.model_dump_json(exclude={"probes", "source", "runner", "name"}))
    probes = {k: v.model_dump(mode="json") for k, v in sorted(config.probes.items())}
    return _identity_from(data, probes)


def _identity_from(config: dict[str, Any], probes: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in config.items() if k not in ("name", "runner", "source", "probes")}
    data["subjects"] = [
        {k: v for k, v in s.items() if k not in _SCHEDULING and v is not None}
        for s in data.get("subjects", [])
    ]
    data["probes"] = {k: probes[k] for k in sorted(probes)}
    return data


def fingerprint(identity: dict[str, Any]) -> str:
    """A short, stable hash of a design identity."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_identity(store: Store) -> dict[str, Any] | None:
    """The design identity a store was run with (rebuilt from its config for older stores)."""
    raw = store.meta("design")
    if raw is not None:
        return dict(json.loads(raw))
    config = store.meta("config")
    if config is None:
        return None
    return _identity_from(json.loads(config), json.loads(store.meta("probe_options") or "{}"))


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (lists compared whole).

    A probe on one side only is named once (`probes.<name>`). A probe option present on one
    side only (a toolkit version that added an option) is not a difference.
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    both = _probes(flat_old) & _probes(flat_new)
    keys: list[str] = []
    for key in sorted(set(flat_old) | set(flat_new)):
        in_old, in_new = key in flat_old, key in flat_new
        if key.startswith("probes.") and _probe(key) not in both:
            key = _probe(key)
        elif in_old != in_new and key.startswith("probes.") and key.count(".") >= 2:
            continue  # an option one toolkit version has and another lacks
        elif in_old and in_new and flat_old[key] == flat_new[key]:
            continue
        if key not in keys:
            keys.append(key)
    return keys


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _probe(key: str) -> str:
    return ".".join(key.split(".")[:2])


def _probes(flat: dict[str, Any]) -> set[str]:
    return {_probe(k) for k in flat if k.startswith("probes.")}


def moved_aside_name(path: Path) -> Path:
    """Where `--force-new` keeps the old store: `assessment.replaced-<UTC time>.sqlite`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = path.with_name(f"{path.stem}.replaced-{stamp}{path.suffix}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.replaced-{stamp}-{n}{path.suffix}")
    return candidate
