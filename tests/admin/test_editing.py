"""Editing: changes keep the files' layout and never leave an invalid knowledge folder."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from bot.admin.editing import add_alternate_question, replace_knowledge_file
from bot.knowledge import KnowledgeError, load_knowledge
from bot.knowledge.loader import knowledge_files
from bot.knowledge.models import Lang


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (backups included), by relative name."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def added_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if any line was removed or changed."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [line for line in diff if line.startswith("- ")]
    assert removed == [], "lines were changed or removed:\n" + "\n".join(removed)
    return [line[2:] for line in diff if line.startswith("+ ")]


# --- add_alternate_question -------------------------------------------------------------


def test_add_question_keeps_comments_and_layout(knowledge_dir: Path) -> None:
    path = knowledge_dir / "marriage.yaml"
    before = path.read_text(encoding="utf-8")

    changed = add_alternate_question(
        knowledge_dir, "marriage-points", "去公园领证要预约吗", lang="zh"
    )

    after = path.read_text(encoding="utf-8")
    assert changed == path
    assert "# Colloquial phrasings stay: residents type like this." in after
    assert "# Marriage registration entries of the test knowledge." in after
    assert added_lines(before, after) == ["        - 去公园领证要预约吗"]
    # Right under the last question: the comment and blank line after it stay below.
    assert (
        "        - 结婚登记点在哪  # the most common one\n        - 去公园领证要预约吗\n\n" in after
    )
    assert "# English phrasings: as visitors type them." in after
    entry = load_knowledge(knowledge_dir).entries["marriage-points"]
    assert entry.questions.zh[-1] == "去公园领证要预约吗"


def test_add_question_to_a_flow_list(knowledge_dir: Path) -> None:
    path = knowledge_dir / "marriage.yaml"

    add_alternate_question(
        knowledge_dir, "marriage-custom-reform", "Is Huanggu a pilot zone?", lang="en"
    )

    after = path.read_text(encoding="utf-8")
    assert "# Colloquial phrasings stay: residents type like this." in after
    entry = load_knowledge(knowledge_dir).entries["marriage-custom-reform"]
    assert entry.questions.en == [
        "Which districts pilot the marriage custom reform?",
        "Is Huanggu a pilot zone?",
    ]


SPECIAL_QUESTIONS = [
    "领证: 要带什么",
    "What about point #2?",
    "- is this a list?",
    "'quoted', with a comma",
    '"Shenyang Xishi" [brand] {new}?',
    "yes",
    "2024-03-06",
]


@pytest.mark.parametrize("question", SPECIAL_QUESTIONS, ids=range(len(SPECIAL_QUESTIONS)))
@pytest.mark.parametrize(
    ("entry_id", "lang"),
    [("marriage-points", "zh"), ("marriage-custom-reform", "en")],
    ids=["block-list", "flow-list"],
)
def test_add_question_with_yaml_special_characters(
    knowledge_dir: Path, entry_id: str, lang: Lang, question: str
) -> None:
    add_alternate_question(knowledge_dir, entry_id, question, lang=lang)

    entry = load_knowledge(knowledge_dir).entries[entry_id]
    assert getattr(entry.questions, lang)[-1] == question


def test_add_question_creates_the_missing_language_list(knowledge_dir: Path) -> None:
    path = knowledge_dir / "elderly.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("      en:\n        - Is there a meal service for older people?\n", ""),
        encoding="utf-8",
    )
    assert load_knowledge(knowledge_dir).entries["elderly-meal-service"].questions.en == []

    add_alternate_question(
        knowledge_dir, "elderly-meal-service", "Meals for older people: what is new?", lang="en"
    )

    entry = load_knowledge(knowledge_dir).entries["elderly-meal-service"]
    assert entry.questions.en == ["Meals for older people: what is new?"]


REFUSED = {
    # Already a question of this entry.
    "same-entry": ("marriage-points", "结婚登记点在哪", "zh", "already has the question"),
    # The same once punctuation, width and spaces are ignored.
    "same-after-normalising": ("marriage-points", " 结婚登记点 在哪？", "zh", "already has"),
    # Another entry has it: the matcher could not tell the two apart.
    "other-entry": ("elderly-meal-service", "结婚登记点在哪", "zh", "'marriage-points'"),
    "empty": ("marriage-points", " ？ ", "zh", "empty"),
    "unknown-entry": ("marriage-halls", "婚姻登记处在哪", "zh", "no entry 'marriage-halls'"),
}


@pytest.mark.parametrize(
    ("entry_id", "question", "lang", "reason"), REFUSED.values(), ids=REFUSED.keys()
)
def test_add_question_refusals_leave_files_untouched(
    knowledge_dir: Path, entry_id: str, question: str, lang: Lang, reason: str
) -> None:
    before = snapshot(knowledge_dir)
    with pytest.raises(ValueError, match=reason):
        add_alternate_question(knowledge_dir, entry_id, question, lang=lang)
    assert snapshot(knowledge_dir) == before


def test_add_question_refuses_an_invalid_folder(knowledge_dir: Path) -> None:
    (knowledge_dir / "texts.yaml").unlink()
    before = snapshot(knowledge_dir)
    with pytest.raises(KnowledgeError, match="no file defines texts"):
        add_alternate_question(knowledge_dir, "marriage-points", "去公园领证要预约吗", lang="zh")
    assert snapshot(knowledge_dir) == before


def test_add_question_keeps_the_shipped_files_layout(shipped_copy: Path) -> None:
    """Each shipped file with entries gets one new line and nothing else changes."""
    knowledge = load_knowledge(shipped_copy)
    first_entry_of: dict[Path, str] = {}
    for path in knowledge_files(shipped_copy):
        text = path.read_text(encoding="utf-8")
        for entry_id in knowledge.entries:
            if f"- id: {entry_id}\n" in text:
                first_entry_of[path] = entry_id
                break

    for n, (path, entry_id) in enumerate(first_entry_of.items()):
        before = path.read_text(encoding="utf-8")
        question = f"测试用的新问法第{n}号：这样问可以吗"
        assert add_alternate_question(shipped_copy, entry_id, question, lang="zh") == path
        new = added_lines(before, path.read_text(encoding="utf-8"))
        assert len(new) == 1 and question in new[0], f"{path.name}: {new}"
        assert load_knowledge(shipped_copy).entries[entry_id].questions.zh[-1] == question


# --- replace_knowledge_file --------------------------------------------------------------

NEW_MARRIAGE = """# Marriage registration entries, as uploaded by an admin.
entries:
  - id: marriage-points
    category: marriage
    title: {zh: 结婚登记点, en: Marriage registration points}
    questions:
      zh: [公园里能登记结婚吗, 结婚登记点在哪]
      en: ["Can I register my marriage in a park?"]
    answer:
      zh: 沈阳将在旅游景区、公园等设置4个结婚登记点，具体地点此公告未公布。
      en: Shenyang will set up 4 marriage registration points in scenic spots and parks.
    related: [marriage-xishi-brand]
    source: {document: 沈将培育200个嵌入式养老服务综合体, date: 2024-03-06, section: 婚姻登记}
    updated: 2024-03-06

  - id: marriage-xishi-brand
    category: marriage
    title: {zh: “沈阳喜事”婚姻服务品牌, en: The "Shenyang Xishi" marriage service brand}
    questions:
      zh: [沈阳喜事是什么]
    answer:
      zh: 沈阳将在全市推广“沈阳喜事”婚姻服务品牌。
      en: Shenyang will promote the "Shenyang Xishi" marriage service brand across the city.
    source: {document: 沈将培育200个嵌入式养老服务综合体, date: 2024-03-06, section: 婚姻登记}
    updated: 2024-03-06
"""


def test_replace_file_reports_changes_and_keeps_a_backup(knowledge_dir: Path) -> None:
    path = knowledge_dir / "marriage.yaml"
    old = path.read_bytes()

    summary = replace_knowledge_file(knowledge_dir, "marriage.yaml", NEW_MARRIAGE.encode())

    assert summary.file == path
    assert summary.added == ("marriage-xishi-brand",)
    assert summary.removed == ("marriage-custom-reform",)
    assert summary.edited == ("marriage-points",)
    assert summary.changed
    assert path.read_bytes() == NEW_MARRIAGE.encode()
    assert summary.backup is not None
    assert summary.backup.parent == knowledge_dir / ".backups"
    assert summary.backup.name.startswith("marriage.") and summary.backup.suffix == ".yaml"
    assert summary.backup.read_bytes() == old
    assert str(summary).splitlines()[:4] == [
        "added 1 entry: marriage-xishi-brand",
        "removed 1 entry: marriage-custom-reform",
        "edited 1 entry: marriage-points",
        f"previous version kept as {summary.backup.name}",
    ]
    # The backup folder is not read as knowledge.
    assert set(load_knowledge(knowledge_dir).entries) == {
        "elderly-meal-service",
        "marriage-points",
        "marriage-xishi-brand",
    }


def test_replace_file_backups_never_overwrite_each_other(knowledge_dir: Path) -> None:
    replace_knowledge_file(knowledge_dir, "marriage.yaml", NEW_MARRIAGE.encode())
    second = NEW_MARRIAGE.replace("具体地点此公告未公布。", "具体地点此公告没有公布。")
    summary = replace_knowledge_file(knowledge_dir, "marriage.yaml", second.encode())

    assert summary.edited == ("marriage-points",)
    assert len(list((knowledge_dir / ".backups").iterdir())) == 2


def test_replace_file_with_a_backup_dir_elsewhere(knowledge_dir: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups" / "knowledge"
    summary = replace_knowledge_file(
        knowledge_dir, "marriage.yaml", NEW_MARRIAGE.encode(), backup_dir=backups
    )
    assert summary.backup is not None and summary.backup.parent == backups
    assert not (knowledge_dir / ".backups").exists()


def test_upload_of_a_new_file(knowledge_dir: Path) -> None:
    entry = NEW_MARRIAGE[NEW_MARRIAGE.index("  - id: marriage-xishi-brand") :]

    summary = replace_knowledge_file(
        knowledge_dir, "marriage-brand.yaml", f"entries:\n{entry}".encode()
    )

    assert summary.file == knowledge_dir / "marriage-brand.yaml"
    assert summary.backup is None
    assert (summary.added, summary.removed, summary.edited) == (("marriage-xishi-brand",), (), ())
    assert "marriage-xishi-brand" in load_knowledge(knowledge_dir).entries


def test_upload_of_the_same_content_changes_nothing(knowledge_dir: Path) -> None:
    path = knowledge_dir / "marriage.yaml"
    summary = replace_knowledge_file(knowledge_dir, "marriage.yaml", path.read_bytes())
    assert summary.backup is None
    assert not summary.changed
    assert str(summary) == "no entry changed"


BROKEN_UPLOADS = {
    "yaml-syntax": (NEW_MARRIAGE.replace("  - id: marriage-xishi-brand", "  - id: [oops"), None),
    "unknown-category": (
        NEW_MARRIAGE.replace("category: marriage", "category: weddings", 1),
        "unknown category 'weddings'",
    ),
    "duplicate-id-in-another-file": (
        NEW_MARRIAGE.replace("marriage-xishi-brand", "elderly-meal-service"),
        "duplicate entry id 'elderly-meal-service'",
    ),
    "not-utf8": ("# 婚姻登记\nentries: []\n".encode("gb18030"), "is not UTF-8 text"),
}


@pytest.mark.parametrize(("data", "message"), BROKEN_UPLOADS.values(), ids=BROKEN_UPLOADS.keys())
def test_broken_upload_leaves_the_original_untouched(
    knowledge_dir: Path, data: str | bytes, message: str | None
) -> None:
    before = snapshot(knowledge_dir)
    content = data.encode() if isinstance(data, str) else data

    with pytest.raises(KnowledgeError) as raised:
        replace_knowledge_file(knowledge_dir, "marriage.yaml", content)

    assert snapshot(knowledge_dir) == before  # no change, no backup, no stray file
    # Admin code refusing bad input catches ValueError; KnowledgeError is one.
    assert isinstance(raised.value, ValueError)
    # Problems name the real file, not the temporary copy they were found in.
    assert any(p.file == knowledge_dir / "marriage.yaml" for p in raised.value.problems)
    if message is not None:
        assert message in str(raised.value)


@pytest.mark.parametrize(
    "filename",
    [
        "../marriage.yaml",
        "sub/marriage.yaml",
        "/tmp/marriage.yaml",
        "..\\marriage.yaml",
        "marriage.txt",
        "marriage",
        ".hidden.yaml",
        ".yaml",
        "",
        "marriage.yaml\x00.txt",
        "marriage yaml.yaml",
    ],
    ids=[
        "parent",
        "subfolder",
        "absolute",
        "backslash",
        "wrong-suffix",
        "no-suffix",
        "hidden",
        "only-suffix",
        "empty",
        "nul",
        "space",
    ],
)
def test_upload_refuses_anything_but_a_plain_yaml_name(knowledge_dir: Path, filename: str) -> None:
    before = snapshot(knowledge_dir)
    with pytest.raises(ValueError, match="plain knowledge file name"):
        replace_knowledge_file(knowledge_dir, filename, NEW_MARRIAGE.encode())
    assert snapshot(knowledge_dir) == before
