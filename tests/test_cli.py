"""The command line as a user runs it: `python -m bot ...` in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PLACEHOLDER_TOKEN
from tests.conftest import write_jsonl

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"


def bot_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """The environment of `python -m bot` in `tmp_path`: this checkout's code (not the
    one the virtualenv's editable install points at), no developer .env, lexical
    matching for speed."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "KNOWLEDGE_DIR": str(KNOWLEDGE),
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "EMBEDDING_CACHE_DIR": str(tmp_path / "cache"),
        "SEMANTIC_ENABLED": "false",
        **env,
    }


def run_bot(
    tmp_path: Path, *args: str, stdin: bytes = b"", **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in `tmp_path` (see `bot_environment`)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        cwd=tmp_path,
        env=bot_environment(tmp_path, **env),
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", errors="replace"),
        result.stderr.decode("utf-8", errors="replace"),
    )


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--help")
    assert result.returncode == 0
    for command in (
        "start",
        "run",
        "chat",
        "ask",
        "eval",
        "validate",
        "stats",
        "unanswered",
        "forget",
    ):
        # Listed as a subcommand (its own line), not just mentioned in another's help.
        assert re.search(rf"^ {{4}}{command}\b", result.stdout, re.MULTILINE), command


def test_ask_json_has_the_documented_shape(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "ask", "--json", "结婚等级在哪办")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert set(reply) == {
        "question", "lang", "status", "entry_id", "score", "answer", "candidates",
    }  # fmt: skip
    assert reply["status"] == "answered"
    assert reply["entry_id"] == "marriage-registration-points"
    assert reply["lang"] == "zh"
    assert "4个结婚登记点" in reply["answer"]
    assert {"entry_id", "title", "score"} <= set(reply["candidates"][0])


def test_ask_batch_answers_every_line_in_order_and_survives_bad_ones(tmp_path: Path) -> None:
    lines = [
        "海葬免费吗".encode(),
        b"",  # empty line: invalid, not the end of the batch
        b"\xff\xfe broken utf-8",
        ("低保" * 3000).encode(),  # a huge line
        b"How do I register my marriage in a park?",
        "今天天气怎么样".encode(),
    ]
    result = run_bot(tmp_path, "ask", "--json", stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(replies) == len(lines)
    assert replies[0]["entry_id"] == "funeral-sea-burial"
    assert replies[1]["status"] == "invalid"
    assert replies[4]["lang"] == "en"
    assert replies[4]["entry_id"] == "marriage-registration-points"
    # Weather is not in the announcement: declined, not answered with a guess.
    assert replies[5]["status"] == "fallback"


@pytest.mark.parametrize(
    ("args", "stdin", "lines_read"),
    [
        # The reader is gone before the answer is written.
        (("ask", "结婚登记"), b"", 0),
        # `| head -1` on a batch: far more replies than a pipe holds (64 KiB), so the
        # bot is still writing when the reader goes.
        (("ask", "--json"), "结婚登记\n离婚\n".encode() * 150, 1),
    ],
    ids=["one-question", "batch"],
)
def test_a_reader_that_stops_early_ends_the_bot_quietly(
    tmp_path: Path, args: tuple[str, ...], stdin: bytes, lines_read: int
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=bot_environment(tmp_path),
    )
    assert process.stdin and process.stdout and process.stderr
    process.stdin.write(stdin)
    process.stdin.close()
    for _ in range(lines_read):
        assert process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read().decode("utf-8", errors="replace")
    status = process.wait(timeout=120)
    process.stderr.close()
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert status == 128 + signal.SIGPIPE  # what a shell reports for `yes | head -1`


@pytest.mark.parametrize(
    ("question", "silent"),
    [
        ("美丽服务台电话多少", "没有公布联系电话"),
        ("What is the phone number of the Meili service desk?", "do not give phone numbers"),
        # A look-alike of a covered topic: not answered with the marriage entries.
        ("离婚登记怎么办", "没有涉及“离婚”"),
        ("沈阳北站几点开门", "没有涉及“沈阳北站”"),
        # Named as the knowledge spells it, not in its normalised (lower-case) form.
        ("Shenyang North Station opening hours", "say nothing about “Shenyang North Station”"),
    ],
    ids=["zh", "en", "look-alike", "other-station", "look-alike-en"],
)
def test_a_reply_says_when_the_sources_do_not_give_what_was_asked(
    tmp_path: Path, question: str, silent: str
) -> None:
    # The announcement gives no phone number for the desk: the bot must say so,
    # not just offer topics (and never make one up).
    reply = json.loads(run_bot(tmp_path, "ask", "--json", question).stdout)
    assert reply["status"] != "answered"
    assert silent in reply["answer"]


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("dibao zenme shenqing", "zh"),  # typed pinyin gets a Chinese answer
        ("how to apply for dibao", "en"),  # an English sentence with one pinyin word stays English
        ("適老化改造", "zh"),
    ],
    ids=["pinyin", "english-with-pinyin-word", "traditional"],
)
def test_reply_language_follows_the_question(tmp_path: Path, question: str, lang: str) -> None:
    result = run_bot(tmp_path, "ask", "--json", question)
    assert json.loads(result.stdout)["lang"] == lang


def test_chat_shows_numbered_choices_and_follows_them(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "chat", stdin=b"5\n1\n/quit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[5] 💍" in out  # the category menu, numbered
    assert "结婚登记点" in out  # choice 5 opened the marriage category, choice 1 its first entry
    assert "来源：" in out


def test_start_without_a_token_opens_the_console_and_says_how_to_use_telegram(
    tmp_path: Path,
) -> None:
    result = run_bot(tmp_path, "start", stdin=b"/quit\n")
    assert result.returncode == 0
    assert "@BotFather" in result.stderr
    assert "您好" in result.stdout


def test_the_env_example_placeholder_token_is_refused(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "run", TELEGRAM_BOT_TOKEN=PLACEHOLDER_TOKEN)
    assert result.returncode == 2
    assert "placeholder" in result.stderr
    assert "@BotFather" in result.stderr


def test_eval_no_semantic_overrides_the_setting(tmp_path: Path) -> None:
    faq = write_jsonl(
        tmp_path / "kb.jsonl", [{"faq_id": "a", "question": "肺炎怎么治疗", "alt_questions": []}]
    )
    queries = write_jsonl(tmp_path / "q.jsonl", [{"query": "肺炎怎么治", "faq_id": "a"}])
    args = ("eval", "--faq", str(faq), "--queries", str(queries), "--no-semantic", "--json")
    result = run_bot(tmp_path, *args, SEMANTIC_ENABLED="true")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["semantic"] is False
    assert report["p_at_1"] == 1.0


def test_validate_passes_on_the_shipped_knowledge(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "validate", str(KNOWLEDGE))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("ok:")
    assert "0 warning" in result.stdout


def test_validate_reports_a_broken_copy_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, broken, ignore=shutil.ignore_patterns(".*"))
    path = broken / "marriage.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("category:"))
    lines[number - 1] = lines[number - 1].replace("category:", "categroy:")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_bot(tmp_path, "validate", str(broken))
    assert result.returncode == 1
    assert f"marriage.yaml:{number}:" in result.stdout
    assert "categroy" in result.stdout
