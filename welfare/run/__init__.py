"""How it is asked: the store and the runner."""

from welfare.run.runner import CallingModel, Meter, Runner, RunSummary
from welfare.run.store import Store

__all__ = ["CallingModel", "Meter", "RunSummary", "Runner", "Store"]
