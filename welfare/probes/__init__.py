"""What is asked: one module per probe, each with design, conduct, parse and analyze."""

from __future__ import annotations

from welfare.probes.base import Frames, Probe, ProbeOptions, TrialContext
from welfare.probes.end_conversation import EndConversationProbe
from welfare.probes.self_interaction import SelfInteractionProbe
from welfare.probes.self_report import SelfReportProbe
from welfare.probes.task_preference import TaskPreferenceProbe

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        TaskPreferenceProbe(),
        SelfReportProbe(),
        EndConversationProbe(),
        SelfInteractionProbe(),
    )
}
"""Every probe by name, in the order they run and appear in reports."""

__all__ = ["PROBES", "Frames", "Probe", "ProbeOptions", "TrialContext"]
