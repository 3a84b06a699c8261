"""The exit logic: from a run's targets and the clock to a verdict (SPEC, "Exit logic")."""

from tiltrun.judge.exit.decision import Outcome, Reason, Verdict, decide

__all__ = ["Outcome", "Reason", "Verdict", "decide"]
