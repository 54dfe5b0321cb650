"""The on-disk embedding cache: exact reuse, and reuse of unchanged texts after an edit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.matching.embedding import encode_cached
from tests.matching.conftest import CountingEmbedder

TEXTS = ["结婚登记点在哪", "海葬免费吗", "沈阳站美丽服务台能做什么", "how to apply for dibao"]


def test_the_same_texts_are_read_back_without_encoding(tmp_path: Path) -> None:
    model = CountingEmbedder()
    first = encode_cached(model, TEXTS, cache_dir=tmp_path, progress=False)
    again = encode_cached(model, TEXTS, cache_dir=tmp_path, progress=False)
    assert model.texts == len(TEXTS)  # only the first call encoded
    np.testing.assert_array_equal(first, again)


def test_an_edit_encodes_only_the_new_texts(tmp_path: Path) -> None:
    model = CountingEmbedder()
    before = encode_cached(model, TEXTS, cache_dir=tmp_path, progress=False)
    # An admin adds one alternate question in the middle and removes another.
    edited = [TEXTS[0], "公园里能领证吗", *TEXTS[2:]]
    after = encode_cached(model, edited, cache_dir=tmp_path, progress=False)
    assert model.texts == len(TEXTS) + 1
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[2:], before[2:])
    # The reused rows are the same as a fresh encoding would give.
    np.testing.assert_allclose(after, CountingEmbedder().encode(edited))


def test_old_caches_are_pruned(tmp_path: Path) -> None:
    model = CountingEmbedder()
    for i in range(10):
        encode_cached(model, [*TEXTS, f"第{i}个问题"], cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("**/*.npy"))) <= 4
    assert len(list(tmp_path.glob("**/*.json"))) <= 4


class OtherEmbedder(CountingEmbedder):
    name = "other/fake model"  # not a file name as it is


def test_models_sharing_a_folder_keep_their_own_caches(tmp_path: Path) -> None:
    kept, busy = CountingEmbedder(), OtherEmbedder()
    encode_cached(kept, TEXTS, cache_dir=tmp_path, progress=False)
    for i in range(10):  # the other model's knowledge is edited again and again
        encode_cached(busy, [*TEXTS, f"第{i}个问题"], cache_dir=tmp_path, progress=False)
    # The first model's cache was neither pruned nor hidden: an edit encodes one text.
    encode_cached(kept, [*TEXTS, "新问题"], cache_dir=tmp_path, progress=False)
    assert kept.texts == len(TEXTS) + 1


def test_a_damaged_cache_is_recomputed(tmp_path: Path) -> None:
    model = CountingEmbedder()
    encode_cached(model, TEXTS, cache_dir=tmp_path, progress=False)
    for path in tmp_path.glob("**/*.npy"):
        path.write_bytes(b"not numpy")
    vectors = encode_cached(model, TEXTS, cache_dir=tmp_path, progress=False)
    assert vectors.shape == (len(TEXTS), model.dim)
    assert model.texts == 2 * len(TEXTS)


def test_caches_of_the_old_layout_are_removed(tmp_path: Path) -> None:
    # Before the folder per model, caches lay in the folder itself, never pruned since.
    old = "0123456789abcdef" * 2
    (tmp_path / f"{old}.json").write_text("{}", encoding="utf-8")
    (tmp_path / f"{old}.npy").write_bytes(b"old")
    # The folder may be shared: what is not named as a cache stays.
    (tmp_path / "settings.json").write_text("{}", encoding="utf-8")
    encode_cached(CountingEmbedder(), TEXTS, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.glob("*.npy"))
    assert [p.name for p in tmp_path.glob("*.json")] == ["settings.json"]
    assert len(list(tmp_path.glob("*/*.npy"))) == 1
