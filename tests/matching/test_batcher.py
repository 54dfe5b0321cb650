"""Batcher: texts submitted from many threads at once share calls, and get their own results."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from bot.matching.batcher import Batcher


class SlowUpper:
    """A call that blocks until released, so other threads queue up behind it."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, texts: Sequence[str]) -> list[str]:
        self.calls.append(list(texts))
        self.started.set()
        self.release.wait(timeout=10)
        if "boom" in texts:
            raise ValueError("boom")
        return [text.upper() for text in texts]


def queued(batcher: Batcher[str], count: int) -> None:
    """Wait until `count` texts are queued behind the running call."""
    for _ in range(1000):
        with batcher._lock:
            if len(batcher._queue) >= count:
                return
        threading.Event().wait(0.005)
    raise AssertionError("the texts never queued up")


def behind_a_slow_call(
    pool: ThreadPoolExecutor, batcher: Batcher[str], started: threading.Event, texts: Sequence[str]
) -> tuple[Future[str], list[Future[str]]]:
    """Submit "first", and `texts` once its call has started; all queued behind it."""
    first = pool.submit(batcher.submit, "first")
    assert started.wait(5)
    rest = []
    for number, text in enumerate(texts):  # one at a time: the queue keeps this order
        rest.append(pool.submit(batcher.submit, text))
        queued(batcher, number + 1)
    return first, rest


def test_alone_a_text_is_called_at_once() -> None:
    call = SlowUpper()
    call.release.set()
    assert Batcher(call).submit("a") == "A"
    assert call.calls == [["a"]]


def test_texts_arriving_during_a_call_share_the_next_one() -> None:
    call = SlowUpper()
    batcher = Batcher(call)
    with ThreadPoolExecutor(6) as pool:
        first, rest = behind_a_slow_call(pool, batcher, call.started, "bcdef")
        call.release.set()
        assert first.result(5) == "FIRST"
        assert [f.result(5) for f in rest] == list("BCDEF")
    assert call.calls[0] == ["first"]
    assert sorted(call.calls[1]) == list("bcdef")
    assert len(call.calls) == 2


def test_the_limit_splits_a_long_queue() -> None:
    call = SlowUpper()
    batcher = Batcher(call, limit=2)
    with ThreadPoolExecutor(6) as pool:
        first, rest = behind_a_slow_call(pool, batcher, call.started, "bcde")
        call.release.set()
        assert [f.result(5) for f in [first, *rest]] == ["FIRST", *"BCDE"]
    assert [len(c) for c in call.calls] == [1, 2, 2]


def test_an_error_reaches_only_the_caller_whose_text_caused_it() -> None:
    call = SlowUpper()
    batcher = Batcher(call)
    with ThreadPoolExecutor(4) as pool:
        first, (fine, doomed) = behind_a_slow_call(pool, batcher, call.started, ("x", "boom"))
        call.release.set()
        assert first.result(5) == "FIRST"
        # "x" shared a failed call with "boom", and was answered by a call of its own.
        assert fine.result(5) == "X"
        with pytest.raises(ValueError, match="boom"):
            doomed.result(5)
        assert call.calls[1:] == [["x", "boom"], ["x"], ["boom"]]
        # The batcher is not left busy: the next text is served.
        assert pool.submit(batcher.submit, "after").result(5) == "AFTER"


def test_a_bad_text_first_in_line_fails_only_itself() -> None:
    call = SlowUpper()
    batcher = Batcher(call)
    with ThreadPoolExecutor(4) as pool:
        first, (doomed, fine, also_fine) = behind_a_slow_call(
            pool, batcher, call.started, ("boom", "x", "y")
        )
        call.release.set()
        assert first.result(5) == "FIRST"
        with pytest.raises(ValueError, match="boom"):
            doomed.result(5)
        assert (fine.result(5), also_fine.result(5)) == ("X", "Y")
    assert call.calls[1:] == [["boom", "x", "y"], ["boom"], ["x"], ["y"]]


def test_a_call_that_always_fails_is_not_retried_text_by_text() -> None:
    calls: list[list[str]] = []
    started, release = threading.Event(), threading.Event()

    def broken(texts: Sequence[str]) -> list[str]:
        calls.append(list(texts))
        started.set()
        release.wait(timeout=10)
        raise OSError("the model cannot run")

    batcher: Batcher[str] = Batcher(broken)
    with ThreadPoolExecutor(4) as pool:
        first, rest = behind_a_slow_call(pool, batcher, started, ("a", "b", "c"))
        release.set()
        for future in [first, *rest]:
            with pytest.raises(OSError):
                future.result(5)
    # The batch, then its first two texts alone; not every text again.
    assert calls[1:] == [["a", "b", "c"], ["a"], ["b"]]


def test_a_call_returning_the_wrong_count_is_an_error() -> None:
    batcher: Batcher[str] = Batcher(lambda texts: [])
    with pytest.raises(RuntimeError, match="0 results for 1"):
        batcher.submit("a")
    with pytest.raises(RuntimeError):
        batcher.submit("b")  # still not stuck


def test_many_threads_each_get_their_own_result() -> None:
    batcher: Batcher[str] = Batcher(lambda texts: [t[::-1] for t in texts], limit=3)
    texts = [f"text-{n}" for n in range(300)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(batcher.submit, texts))
    assert results == [t[::-1] for t in texts]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(lambda texts: list(texts), limit=0)


def test_an_interrupt_in_the_leader_wakes_the_queue() -> None:
    # A BaseException (KeyboardInterrupt in a CLI) must not strand the texts behind it.
    call = SlowUpper()
    interrupted: list[bool] = []

    def interrupting(texts: Sequence[str]) -> list[str]:
        if not interrupted:
            interrupted.append(True)
            call.started.set()
            call.release.wait(timeout=10)
            raise KeyboardInterrupt
        return [text.upper() for text in texts]

    batcher = Batcher(interrupting)
    with ThreadPoolExecutor(3) as pool:
        first, rest = behind_a_slow_call(pool, batcher, call.started, "bc")
        call.release.set()
        with pytest.raises(KeyboardInterrupt):
            first.result(5)
        assert [f.result(5) for f in rest] == ["B", "C"]
