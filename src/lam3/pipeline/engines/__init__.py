"""How the score stage runs its judges: the engines behind ``lam3 score --engine``.

Every engine takes the same input (the Stage's pending batches, in input order) and yields the
same output (each batch with one ``{judge key: Judgement}`` per record, in input order), so the
durable writer, the resume rules and the output are the engine's business nowhere:

* :mod:`.judging`: the one judge call (``run_judge``: a judge that raises → per-record errors);
* :mod:`.concurrent` (``engine: local``): the judges in this process, each on its own thread,
  with a bounded look-ahead, so a slow remote judge never holds up a local one;
* :mod:`.ray_score` (``engine: ray``): Ray Data streams the batches through one actor pool per
  judge on a Ray cluster (imported only when asked for).
"""
