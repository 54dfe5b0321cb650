"""Group near-duplicate texts (for the admin's unanswered-questions report)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process, utils

#: Similarity (0-100) at which two questions count as the same question. Chosen so that
#: "养狗要办证吗" / "养狗需要办证吗" (92) group while "结婚登记在哪里" / "离婚登记在哪里"
#: (86), which differ in the one character that matters, stay apart.
DEFAULT_THRESHOLD = 88.0


def group_similar(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Group the indexes of texts that say nearly the same thing.

    Greedy and order-dependent on purpose: pass the most frequent texts first. Each text
    joins the most similar group whose first text scores at least `threshold`, else it
    starts a new group; comparing only with a group's first text keeps a chain of small
    edits from pulling unrelated questions together.

    The similarity is the best of the plain ratio (Chinese, which has no spaces) and the
    token-sorted ratio (English word order), after lower-casing and dropping punctuation.

    Args:
        texts: The texts, most important first.
        threshold: Least similarity, 0-100, to join a group.

    Returns:
        Groups of indexes into `texts`; groups in order of their first text, indexes
        ascending. Every index appears exactly once.
    """
    if not texts:
        return []
    processed = [utils.default_process(text) for text in texts]
    similarity = np.maximum(
        process.cdist(processed, processed, scorer=fuzz.ratio, dtype=np.float32),
        process.cdist(processed, processed, scorer=fuzz.token_sort_ratio, dtype=np.float32),
    )
    groups: list[list[int]] = []
    for index in range(len(texts)):
        heads = [group[0] for group in groups]
        if heads:
            best = int(np.argmax(similarity[index, heads]))
            if similarity[index, heads[best]] >= threshold:
                groups[best].append(index)
                continue
        groups.append([index])
    return groups


def similar_pairs(texts: Sequence[str], threshold: float) -> list[tuple[int, int]]:
    """Index pairs `(i, j)`, `i < j`, of texts whose plain ratio is at least `threshold`.

    One C-level pass over all pairs; fine for a few thousand texts (knowledge lint).
    """
    if len(texts) < 2:
        return []
    scores = process.cdist(
        texts, texts, scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.uint8, workers=1
    )
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(scores), strict=True) if i < j]
