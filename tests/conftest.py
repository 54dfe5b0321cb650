"""Fixtures shared across test folders: knowledge folders to read, copy and break; a fake
Bot API server; settings of the real services."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import Settings
from tests.telegram.fake_api import FakeBotApi

VALID = Path(__file__).parent / "knowledge" / "fixtures" / "valid"
SHIPPED = Path(__file__).parents[1] / "knowledge"


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    """`rows` as JSON lines in `path` (the external FAQ files `bot eval --faq` reads)."""
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shipped_data: checks the real knowledge/ folder; a failure lists the data problems",
    )


@pytest.fixture(scope="session")
def embedding_cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where the real sentence model's vectors of the shipped knowledge are kept: pytest's
    own cache directory, so the first run encodes every phrasing and later runs only
    the questions (with `-p no:cacheprovider`, a temporary directory)."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("bot-embeddings"))
    return tmp_path_factory.mktemp("bot-embeddings")


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/knowledge/fixtures/valid (valid, no warnings)."""
    target = tmp_path / "knowledge"
    shutil.copytree(VALID, target)
    return target


@pytest.fixture
def shipped_dir() -> Path:
    """The real knowledge/ folder (read only)."""
    return SHIPPED


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped knowledge/ folder."""
    target = tmp_path / "shipped"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns(".*"))
    return target


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    """A fake Bot API server of this test's own (its call log starts empty)."""
    with FakeBotApi() as fake:
        yield fake


def lexical_settings(knowledge: Path, tmp_path: Path) -> Settings:
    """Settings of the real services over `knowledge`: lexical matcher, SQLite file in tmp_path."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        knowledge_dir=knowledge,
        database_path=tmp_path / "helpdesk.sqlite3",
        embedding_cache_dir=tmp_path / "cache",
        semantic_enabled=False,
        user_hash_secret=SecretStr("test-secret"),
    )
