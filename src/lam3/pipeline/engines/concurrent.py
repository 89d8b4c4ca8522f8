"""``engine: local``: the judges in this process, concurrently, with a bounded look-ahead.

Why threads: a remote judge spends its time waiting (on its quota, on a slow retry) inside its
own event loop, and torch releases the GIL in a forward pass, so one thread per judge lets the
judges overlap without a second copy of any model. Each judge gets one thread, so no judge is ever
called from two threads at once, and it sees its batches in input order.

The look-ahead: batch *i* is handed to every judge as soon as it is read, while up to
``lookahead`` older batches are still being judged; a batch is yielded (and written) once all its
judges are done, oldest first. So while judge R finishes batch *i*, judge L already works on
*i* + 1 … *i* + ``lookahead``; the output keeps input order, each record is written once, with all
its judgements, and memory holds at most ``lookahead + 1`` batches.

The threads are daemons: Ctrl-C during a long forward pass ends the run at once (the batch
being judged is redone on resume, as in a single thread).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future

from lam3.judges.base import Judge, ScoreInput
from lam3.pipeline.engines.judging import Verdicts, merge, run_judge
from lam3.records import Judgement

Batch = list[ScoreInput]


class JudgeThread:
    """One judge on its own daemon thread: :meth:`submit` returns a future, calls run in submission order."""

    def __init__(self, key: str, judge: Judge) -> None:
        self.key, self.judge = key, judge
        self._jobs: queue.SimpleQueue[tuple[Future[list[Judgement]], Batch] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"lam3-judge-{key}", daemon=True)
        self._thread.start()

    def submit(self, items: Batch) -> Future[list[Judgement]]:
        future: Future[list[Judgement]] = Future()
        self._jobs.put((future, items))
        return future

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, items = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(run_judge(self.judge, items))
            except BaseException as exc:  # run_judge turns judge errors into judgements; this is a bug
                future.set_exception(exc)

    def close(self, *, wait: bool) -> None:
        """Stop after the submitted calls (``wait``: until they are done)."""
        self._jobs.put(None)
        if wait:
            self._thread.join()


def judge_stream(judges: Sequence[tuple[str, Judge]], batches: Iterable[Batch], *, lookahead: int = 2,
                 concurrent: bool = True) -> Iterator[tuple[Batch, Verdicts]]:
    """Each batch with its verdicts, in input order (see the module docstring).

    ``concurrent=False`` is the plain loop: one judge after another, one batch at a time.
    """
    keys = [key for key, _ in judges]
    if not concurrent:
        for batch in batches:
            yield batch, merge(keys, [run_judge(judge, batch) for _, judge in judges], len(batch))
        return
    threads = [JudgeThread(key, judge) for key, judge in judges]
    in_flight: deque[tuple[Batch, list[Future[list[Judgement]]]]] = deque()
    finished = False

    def oldest() -> tuple[Batch, Verdicts]:
        batch, futures = in_flight.popleft()
        return batch, merge(keys, [f.result() for f in futures], len(batch))

    try:
        for batch in batches:
            in_flight.append((batch, [t.submit(batch) for t in threads]))
            if len(in_flight) > lookahead:
                yield oldest()
        while in_flight:
            yield oldest()
        finished = True
    finally:
        for _, futures in in_flight:  # a crash or Ctrl-C: drop what has not started
            for future in futures:
                future.cancel()
        for thread in threads:
            thread.close(wait=finished)
