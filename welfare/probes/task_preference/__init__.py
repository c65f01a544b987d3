"""Task preference: which of two tasks would the subject rather do? (Opus 4 design).

One package: `options` (the config table), `probe` (design, conduct), `parse` (reading a
choice), `analysis` (Bradley–Terry scores, shares against opt-out), `figures` and
`section.html.j2` (the report section).
"""

from welfare.probes.task_preference.options import TaskPreferenceOptions
from welfare.probes.task_preference.parse import Choice, parse_choice
from welfare.probes.task_preference.probe import TaskPreferenceProbe, balanced_pairs

__all__ = ["Choice", "TaskPreferenceOptions", "TaskPreferenceProbe", "balanced_pairs",
           "parse_choice"]
