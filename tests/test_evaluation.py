"""Evaluation reports: our own set and external FAQ data (tiny files written here)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.answering import build_engine
from bot.evaluation import (
    ExternalReport,
    configure_eval_parser,
    evaluate_external,
    evaluate_internal,
    percentile,
)
from bot.knowledge.loader import load_knowledge
from bot.matching import MatcherSettings
from tests.conftest import VALID, write_jsonl

FIXTURE_KNOWLEDGE = VALID

EVAL_YAML = """\
questions:
  - q: "结婚登记点在哪"
    expect: marriage-points
    kind: colloquial
  - q: "股票怎么买"
    expect: null
    kind: out_of_scope
  - q: "今天天气怎么样"
    expect: null
    kind: out_of_scope
"""


def test_internal_report(tmp_path: Path) -> None:
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(EVAL_YAML, encoding="utf-8")
    engine = build_engine(
        load_knowledge(FIXTURE_KNOWLEDGE),
        settings=MatcherSettings(semantic=False),
        embedder=None,
        cache_dir=None,
    )
    report = evaluate_internal(engine, eval_file)
    assert (report.total, report.in_scope, report.out_of_scope) == (3, 1, 2)
    assert report.answered_right_rate == 1.0
    assert report.out_of_scope_declined_rate == 1.0
    assert report.misses == ()
    assert json.loads(json.dumps(report.to_dict()))["answered_right"] == 1
    assert "100.0%" in report.format_text()


def _lexical_report(faq: Path, queries: Path, near: Path | None) -> ExternalReport:
    """`evaluate_external` with words alone (no sentence model, no cache)."""
    return evaluate_external(
        faq,
        queries,
        near,
        settings=MatcherSettings(semantic=False),
        embedder=None,
        cache_dir=None,
        progress=False,
    )


def test_external_report(tmp_path: Path) -> None:
    faq = write_jsonl(
        tmp_path / "kb.jsonl",
        [
            {"faq_id": "a", "question": "肺炎怎么治疗", "alt_questions": ["肺炎吃什么药"]},
            {"faq_id": "b", "question": "哮喘能根治吗", "alt_questions": []},
            {"faq_id": "c", "question": "感冒发烧怎么办", "alt_questions": []},
        ],
    )
    queries = write_jsonl(
        tmp_path / "q.jsonl",
        [{"query": "肺炎吃啥药", "faq_id": "a"}, {"query": "哮喘可以根治吗", "faq_id": "b"}],
    )
    near = write_jsonl(tmp_path / "nm.jsonl", [{"query": "肺炎会传染吗", "not_faq_id": "a"}])
    report = _lexical_report(faq, queries, near)
    assert report.documents == 3
    assert report.queries == 2
    assert report.p_at_1 == 1.0
    assert report.mrr_at_10 == 1.0
    assert report.near_misses == 1
    assert 0.0 <= report.near_miss_wrong_answer_rate <= 1.0
    assert report.p99_ms >= report.p50_ms >= 0.0
    assert set(report.to_dict()) >= {"p_at_1", "mrr_at_10", "answered_precision"}
    assert "p@1 1.000" in report.format_text()


def test_external_report_counts_misses_on_near_identical_entries(tmp_path: Path) -> None:
    # Entries a and d read nearly the same; c does not. Both queries land on a.
    faq = write_jsonl(
        tmp_path / "kb.jsonl",
        [
            {"faq_id": "a", "question": "肺炎怎么治疗", "alt_questions": []},
            {"faq_id": "d", "question": "肺炎怎么治疗呢？", "alt_questions": []},
            {"faq_id": "c", "question": "感冒发烧怎么办", "alt_questions": []},
        ],
    )
    queries = write_jsonl(
        tmp_path / "q.jsonl",
        [{"query": "肺炎怎么治疗", "faq_id": "d"}, {"query": "肺炎怎么治疗", "faq_id": "c"}],
    )
    report = _lexical_report(faq, queries, None)
    assert report.p_at_1 == 0.0
    assert (report.misses_at_1, report.misses_near_identical) == (2, 1)
    assert "misses at rank 1: 2, of them 1 chose an entry" in report.format_text()


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.5, 0.0),
        ([3.0], 0.99, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([*range(100)], 0.99, 98),
    ],
    ids=["empty", "single", "median-nearest-rank", "p99-of-100"],
)
def test_percentile(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


def test_eval_parser_defaults() -> None:
    parser = argparse.ArgumentParser()
    configure_eval_parser(parser)
    args = parser.parse_args([])
    assert args.file == Path("tests/data/eval.yaml")
    assert args.faq is None and args.semantic is None and not args.json
    args = parser.parse_args(
        ["--faq", "kb.jsonl", "--queries", "q.jsonl", "--no-semantic", "--json"]
    )
    assert args.faq == Path("kb.jsonl") and args.semantic is False and args.json
