"""Every probe by name, registered in one place (the order is the run and report order).

A probe is a package `welfare/probes/<name>/` (or any importable module) whose Probe class is
named here by a `module:Class` string; adding a probe is one line below, or
`register_probe(...)` from a notebook or plug-in.
"""

from __future__ import annotations

import importlib

from welfare.errors import SpecError
from welfare.probes.base import Probe

__all__ = ["BUILTIN", "PROBES", "register_probe"]

BUILTIN: tuple[str, ...] = (
    "welfare.probes.task_preference:TaskPreferenceProbe",
    "welfare.probes.self_report:SelfReportProbe",
    "welfare.probes.end_conversation:EndConversationProbe",
    "welfare.probes.self_interaction:SelfInteractionProbe",
)

PROBES: dict[str, Probe] = {}
"""Every registered probe by name, in the order they run and appear in reports."""


def register_probe(target: str | Probe) -> Probe:
    """Register a probe instance, or a `module:Class` string naming its class."""
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            probe: Probe = getattr(importlib.import_module(module), attr)()
        except (ImportError, AttributeError) as exc:
            raise SpecError(f"probe {target!r} cannot be imported: {exc}") from None
    else:
        probe = target
    PROBES[probe.name] = probe
    return probe


for _target in BUILTIN:
    register_probe(_target)
