"""What is asked: one package per probe (options, probe, parse, analysis, figures, section).

`PROBES` (from `registry`) holds every registered probe by name; `base` holds the contract.
"""

from __future__ import annotations

from welfare.probes.base import Frames, Probe, ProbeOptions, TrialContext
from welfare.probes.registry import PROBES, register_probe

__all__ = ["PROBES", "Frames", "Probe", "ProbeOptions", "TrialContext", "register_probe"]
