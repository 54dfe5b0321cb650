"""Fixtures shared across test folders: knowledge folders to read, copy and break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

VALID = Path(__file__).parent / "knowledge" / "fixtures" / "valid"
SHIPPED = Path(__file__).parents[1] / "knowledge"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shipped_data: checks the real knowledge/ folder; a failure lists the data problems",
    )


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
