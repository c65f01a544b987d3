"""A worked fifth probe: "would you like to continue?" after a short exchange (issue 12).

It is here to show what adding a probe takes: this folder (probe + section template), one
simulated-behaviour module (`simulated_continue.py`) and one registration line.
"""

from continue_or_stop.probe import ContinueOrStopProbe

__all__ = ["ContinueOrStopProbe"]
