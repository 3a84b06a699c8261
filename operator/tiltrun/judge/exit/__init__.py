"""The exit logic: from a run's targets and the clock to a verdict (SPEC, "Exit logic").

``decision`` applies the rules; ``wording`` puts the verdict into words; ``verdict``
holds the values both share.
"""

from tiltrun.judge.exit.decision import decide
from tiltrun.judge.exit.verdict import Outcome, Reason, Verdict

__all__ = ["Outcome", "Reason", "Verdict", "decide"]
