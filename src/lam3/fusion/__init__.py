"""Fusion: arithmetic on scored records — merge, strategies and reducers, arbitration, calibration,
agreement, intervals and ASR. No I/O and no torch here; the ``fuse``/``calibrate`` stages in
:mod:`lam3.pipeline` read the files.

Add a strategy or reducer from your own package with the decorators below and an entry point
in the group ``lam3.strategies`` / ``lam3.reducers`` naming the decorated function::

    from lam3.fusion import strategy

    @strategy("unanimous", combines="votes")
    def unanimous(ballots, reducer):
        return 1.0 if all(b.vote for b in ballots) else 0.0
"""

from lam3.fusion.reducers import reducer
from lam3.fusion.strategies import Ballot, strategy

__all__ = ["Ballot", "reducer", "strategy"]
