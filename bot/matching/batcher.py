"""Gather questions that arrive together into one model call.

The bot waits for the sentence model in a thread per message. When several
residents write at once, several threads want the model at the same moment; one call
carrying all their texts makes one round trip to the model's worker process
instead of one per text.

No timer and no waiting for company: the first caller runs at once with what
is queued (usually just its own text). Callers that arrive while a call is
running queue up, and when it ends the oldest of them leads the next call for
the whole queue. An idle bot therefore answers exactly as fast as without
batching, and a busy one makes fewer, larger calls. A call that fails is made
again for each of its texts alone, so one bad text fails only its own caller;
if the first two texts alone fail the same way, the whole batch gets that error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class _Job(Generic[Result]):
    text: str
    ready: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None
    #: Set instead of a result when this job's thread must run the next call.
    lead: bool = False


class Batcher(Generic[Result]):
    """Runs `call(texts)` for texts submitted from many threads, in batches.

    Args:
        call: Takes texts and returns one result per text, in order.
        limit: Most texts in one call; the rest wait for the next.

    Raises:
        ValueError: For a limit below 1.
    """

    def __init__(
        self, call: Callable[[Sequence[str]], Sequence[Result]], *, limit: int = 16
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._call = call
        self._limit = limit
        self._lock = threading.Lock()
        self._queue: list[_Job[Result]] = []
        self._busy = False

    def submit(self, text: str) -> Result:
        """The result for one text, computed alone or with others queued beside it.

        Raises:
            Exception: Whatever the call raised for this text alone.
            BaseException: An interruption (KeyboardInterrupt, ...) of the call
                this text was in.
        """
        job: _Job[Result] = _Job(text)
        with self._lock:
            self._queue.append(job)
            leading = not self._busy
            self._busy = True
        if not leading:
            job.ready.wait()
            if not job.lead:
                return self._outcome(job)
        self._run_batch()
        return self._outcome(job)

    def _run_batch(self) -> None:
        with self._lock:
            batch = self._queue[: self._limit]
            del self._queue[: self._limit]
        try:
            try:
                self._fill(batch)
            except Exception as batch_error:
                if len(batch) == 1:
                    raise
                for number, job in enumerate(batch):  # each alone: one bad text fails itself
                    try:
                        self._fill([job])
                    except Exception as error:
                        job.error = error
                        if number == 1 and all(
                            type(j.error) is type(batch_error) for j in batch[:2]
                        ):
                            # The first two texts alone fail as the batch did: likely the
                            # call, not the texts (a model that cannot run). One bad text
                            # first in line is not enough to say so. The rest get it too.
                            raise
        except BaseException as error:  # to every caller of the batch still without an answer
            for job in batch:
                if job.result is None and job.error is None:
                    job.error = error
        finally:
            # Whatever happened, nobody of this batch or behind it is left waiting.
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
            for job in batch:
                job.ready.set()
            if successor is not None:
                successor.lead = True
                successor.ready.set()

    def _fill(self, jobs: Sequence[_Job[Result]]) -> None:
        results = self._call([job.text for job in jobs])
        if len(results) != len(jobs):
            raise RuntimeError(f"batch call returned {len(results)} results for {len(jobs)} texts")
        for job, result in zip(jobs, results, strict=True):
            job.result = result

    @staticmethod
    def _outcome(job: _Job[Result]) -> Result:
        if job.error is not None:
            raise job.error
        assert job.result is not None  # set with the batch, before `ready`
        return job.result
