"""welfare: pre-deployment model-welfare assessments of language models.

The public API, for notebooks and scripts: load a config, run (or resume) an assessment, read
it back, and reach the subjects, the store and the statistics (`welfare.stats`). Names are
imported on first use, so `import welfare` (and the CLI) start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from welfare.version import __version__

_EXPORTS = {
    "Assessment": "welfare.assess",
    "compare_assessments": "welfare.assess",
    "load_assessment": "welfare.assess",
    "run_assessment": "welfare.assess",
    "AssessmentConfig": "welfare.config",
    "load_config": "welfare.config",
    "parse_config": "welfare.config",
    "BankError": "welfare.errors",
    "ConfigError": "welfare.errors",
    "ModelError": "welfare.errors",
    "RetryableModelError": "welfare.errors",
    "SpecError": "welfare.errors",
    "StoreError": "welfare.errors",
    "WelfareError": "welfare.errors",
    "Model": "welfare.models",
    "Request": "welfare.models",
    "Response": "welfare.models",
    "load_model": "welfare.models",
    "SimulatedModel": "welfare.simulated",
    "SubjectProfile": "welfare.simulated",
    "get_profile": "welfare.simulated",
    "profile_names": "welfare.simulated",
    "Finding": "welfare.records",
    "Observation": "welfare.records",
    "ProbeResult": "welfare.records",
    "Trial": "welfare.records",
    "Runner": "welfare.run",
    "Store": "welfare.run",
}

__all__ = [
    "Assessment",
    "AssessmentConfig",
    "BankError",
    "ConfigError",
    "Finding",
    "Model",
    "ModelError",
    "Observation",
    "ProbeResult",
    "Request",
    "Response",
    "RetryableModelError",
    "Runner",
    "SimulatedModel",
    "SpecError",
    "Store",
    "StoreError",
    "SubjectProfile",
    "Trial",
    "WelfareError",
    "__version__",
    "compare_assessments",
    "get_profile",
    "load_assessment",
    "load_config",
    "load_model",
    "parse_config",
    "profile_names",
    "run_assessment",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'welfare' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from welfare.assess import (
        Assessment,
        compare_assessments,
        load_assessment,
        run_assessment,
    )
    from welfare.config import AssessmentConfig, load_config, parse_config
    from welfare.errors import (
        BankError,
        ConfigError,
        ModelError,
        RetryableModelError,
        SpecError,
        StoreError,
        WelfareError,
    )
    from welfare.models import Model, Request, Response, load_model
    from welfare.records import Finding, Observation, ProbeResult, Trial
    from welfare.run import Runner, Store
    from welfare.simulated import (
        SimulatedModel,
        SubjectProfile,
        get_profile,
        profile_names,
    )
