"""The answered-updates journal: what a restarted bot must not answer again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.telegram import journal as journal_module
from bot.telegram.journal import AnsweredJournal


def test_answered_ids_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.answered"
    first = AnsweredJournal(path)
    for update_id in (7, 8, 10):
        first.add(update_id)
    first.close()  # killed: the system closes the file (and its lock), nothing is cleared
    second = AnsweredJournal(path)  # the next process reads what the first wrote
    assert [i for i in range(6, 12) if i in second] == [7, 8, 10]
    second.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bot.answered"
    path.write_bytes(b"5\n6\n\x00\x00")
    journal = AnsweredJournal(path)
    assert 5 in journal and 6 in journal
    journal.add(9)
    journal.close()
    assert 9 in AnsweredJournal(path)


def test_confirmed_ids_are_forgotten_and_the_file_compacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 10)
    path = tmp_path / "bot.answered"
    journal = AnsweredJournal(path)
    for update_id in range(100, 120):
        journal.add(update_id)
    journal.confirmed_below(115)
    assert 114 not in journal and 115 in journal
    assert path.read_text().split() == ["115", "116", "117", "118", "119"]
    journal.add(120)  # still appends after the rewrite
    journal.close()
    assert path.read_text().split()[-1] == "120"


def _held(journal: AnsweredJournal) -> list[int]:
    return [i for i in range(20) if i in journal]


@pytest.mark.parametrize("on_disk", [True, False], ids=["file", "memory"])
def test_confirming_the_same_offset_again_and_then_a_higher_one(
    tmp_path: Path, on_disk: bool
) -> None:
    # The poller confirms on every poll, mostly an offset that has not moved.
    journal = AnsweredJournal(tmp_path / "bot.answered" if on_disk else None)
    for update_id in (5, 6, 7):
        journal.add(update_id)
    journal.confirmed_below(6)
    assert _held(journal) == [6, 7]
    journal.confirmed_below(6)  # not moved: nothing more to forget
    assert _held(journal) == [6, 7]
    journal.add(4)  # finished late, below the offset: the same offset forgets it
    journal.confirmed_below(6)
    assert _held(journal) == [6, 7]
    journal.confirmed_below(3)  # an offset going back forgets nothing, restores nothing
    assert _held(journal) == [6, 7]
    journal.add(9)
    journal.confirmed_below(8)  # moved
    assert _held(journal) == [9]
    assert len(journal) == 1
    journal.clear()
    journal.add(2)  # ids may start anew after a clear
    journal.confirmed_below(8)
    assert _held(journal) == []
    journal.close()


def test_ids_read_at_start_are_forgotten_once_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "bot.answered"
    path.write_bytes(b"3\n11\n12\n")
    journal = AnsweredJournal(path)
    journal.confirmed_below(3)
    assert _held(journal) == [3, 11, 12]
    journal.confirmed_below(12)
    assert _held(journal) == [12]
    journal.close()


def test_an_unusable_journal_never_stops_answering(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    journal = AnsweredJournal(blocker / "bot.answered")  # its folder cannot be made
    journal.add(3)  # kept in memory, no error
    journal.confirmed_below(1)
    assert 3 in journal
    journal.close()


def test_no_path_keeps_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    journal = AnsweredJournal(None)
    journal.add(1)
    journal.clear()
    journal.close()
    assert not list(tmp_path.iterdir())


def test_a_partly_written_last_line_is_not_an_id(tmp_path: Path) -> None:
    path = tmp_path / "bot.answered"
    path.write_bytes(b"1234\n12")  # a power cut in the middle of writing "1235"
    for _ in range(2):  # nor on the start after the next one
        journal = AnsweredJournal(path)
        assert 1234 in journal and 12 not in journal
        journal.close()


def test_a_second_bot_on_the_same_journal_runs_without_one(tmp_path: Path) -> None:
    path = tmp_path / "bot.answered"
    first = AnsweredJournal(path)
    first.add(5)
    second = AnsweredJournal(path)  # locked by the first: not read, not written
    assert 5 not in second
    second.add(6)
    first.close()
    second.close()
    assert path.read_text().split() == ["5"]


def test_clear_empties_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.answered"
    journal = AnsweredJournal(path)
    journal.add(5)
    journal.clear()
    journal.add(9)
    journal.close()
    assert path.read_text().split() == ["9"]
    assert 5 not in AnsweredJournal(path)


def test_the_lock_survives_a_compaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 2)
    path = tmp_path / "bot.answered"
    first = AnsweredJournal(path)
    for update_id in (1, 2, 3):
        first.add(update_id)
    first.confirmed_below(2)  # rewrites the file
    second = AnsweredJournal(path)
    assert 3 not in second  # still locked by the first: not read
    second.close()
    first.close()
