"""The loader: every kind of error is reported with its file and the right line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.knowledge import (
    KnowledgeError,
    Problem,
    load_knowledge,
    loader,
    validate_knowledge,
)

FIXTURES = Path(__file__).parent / "fixtures" / "valid"
CATEGORIES = (FIXTURES / "categories.yaml").read_text(encoding="utf-8")
TEXTS = (FIXTURES / "texts.yaml").read_text(encoding="utf-8")
MARRIAGE = (FIXTURES / "marriage.yaml").read_text(encoding="utf-8")
ELDERLY = (FIXTURES / "elderly.yaml").read_text(encoding="utf-8")

#: Marks the line a problem must be reported at.
MARK = "# <-"


def edit(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced (fails loudly if it is not unique)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if MARK in line]
    assert len(lines) == 1, f"expected one {MARK!r} marker, found {len(lines)}"
    return lines[0]


def write_files(directory: Path, files: Mapping[str, str | bytes | None]) -> None:
    for name, content in files.items():
        path = directory / name
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@dataclass(frozen=True)
class Broken:
    #: file name -> new content; None deletes the file.
    files: Mapping[str, str | bytes | None]
    #: The file the problem is reported in; None for the folder itself.
    where: str | None
    message: str


LINK = """    links:
      - title: {zh: 官网, en: Website}
        url: %s
    related: [marriage-custom-reform]
"""

CASES: dict[str, Broken] = {
    # --- YAML itself ---
    "yaml-bad-indentation": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    title: {zh: 结婚登记点, en: Marriage registration points}\n",
                "   title: {zh: 结婚登记点, en: Marriage registration points}  # <-\n",
            )
        },
        "marriage.yaml",
        "YAML syntax error",
    ),
    "yaml-unclosed-bracket": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY,
                "    title: {zh: 老年助餐服务, en: Meal service for older people}\n",
                "    title: {zh: 老年助餐服务, en: Meal service for older people\n",
            ).replace("    questions:\n", "    questions:  # <-\n", 1)
        },
        "elderly.yaml",
        "YAML syntax error",
    ),
    "yaml-duplicate-key": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    category: marriage\n    title: {zh: 结婚登记点",
                "    category: marriage\n    category: elderly-care  # <-\n    title: {zh: 结婚登记点",
            )
        },
        "marriage.yaml",
        'found duplicate key "category"',
    ),
    "not-utf8": Broken(
        {"extra.yaml": "entries: []  # 旧编码\n".encode("gb18030")},
        "extra.yaml",
        "is not UTF-8 text",
    ),
    "not-a-mapping": Broken(
        {"extra.yaml": "- just a list  # <-\n"}, "extra.yaml", "the file must be a mapping"
    ),
    "unknown-top-level-key": Broken(
        {"extra.yaml": "faq:  # <-\n  - x\n"}, "extra.yaml", "unknown top-level key 'faq'"
    ),
    "entries-not-a-list": Broken(
        {"extra.yaml": "entries:  # <-\n  id: x\n"}, "extra.yaml", "entries must be a list"
    ),
    # --- one file against the schema ---
    "unknown-field": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    keywords: [结婚登记点, 公园]\n",
                "    keywords: [结婚登记点, 公园]\n    answr: 错字  # <-\n",
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': unknown field 'answr'",
    ),
    "unknown-nested-field": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY,
                "    district: {zh: 铁西区, en: Tiexi District}\n",
                "    district: {zh: 铁西区, en: Tiexi District, de: Tiexi}  # <-\n",
            )
        },
        "elderly.yaml",
        "place 'community-canteen': unknown field 'de' in district",
    ),
    "missing-field": Broken(
        {
            # A missing field has no line of its own: the item's first line is reported.
            "elderly.yaml": edit(
                edit(ELDERLY, "    updated: 2024-03-06\n", ""),
                "  - id: elderly-meal-service\n",
                "  - id: elderly-meal-service  # <-\n",
            )
        },
        "elderly.yaml",
        "entry 'elderly-meal-service': updated is missing",
    ),
    "empty-answer": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "      zh: 沈阳将在旅游景区、公园等设置4个结婚登记点。\n",
                '      zh: ""  # <-\n',
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': answer.zh is empty",
    ),
    "id-not-kebab-case": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "  - id: marriage-custom-reform\n",
                "  - id: Marriage_Custom  # <-\n",
            )
        },
        "marriage.yaml",
        "id 'Marriage_Custom' must be kebab-case",
    ),
    "invalid-date": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY,
                "    updated: 2024-03-06\n",
                "    updated: 2024-13-06  # <-\n",
            )
        },
        "elderly.yaml",
        "entry 'elderly-meal-service': updated must be a date like 2024-03-06",
    ),
    "unknown-place-kind": Broken(
        {"elderly.yaml": edit(ELDERLY, "    kind: canteen\n", "    kind: restaurant  # <-\n")},
        "elderly.yaml",
        "place 'community-canteen': kind must be one of",
    ),
    "invalid-url": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    related: [marriage-custom-reform]\n",
                LINK % "not a url  # <-",
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': links[0].url is not a valid URL",
    ),
    "url-not-http": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    related: [marriage-custom-reform]\n",
                LINK % "ftp://example.org/marriage  # <-",
            )
        },
        "marriage.yaml",
        "links[0].url is not a valid URL",
    ),
    "latitude-out-of-range": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY,
                "    entry: elderly-meal-service\n",
                "    location: {lat: 123, lon: 0}  # <-\n    entry: elderly-meal-service\n",
            )
        },
        "elderly.yaml",
        "place 'community-canteen': location.lat must be between -90 and 90",
    ),
    "longitude-out-of-range": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY,
                "    entry: elderly-meal-service\n",
                "    location:\n      lat: 0\n      lon: 200  # <-\n    entry: elderly-meal-service\n",
            )
        },
        "elderly.yaml",
        "location.lon must be between -180 and 180",
    ),
    "synonym-group-of-one": Broken(
        {"synonyms.yaml": "synonyms:\n  - terms: [领证]  # <-\n"},
        "synonyms.yaml",
        "synonym group 1: terms needs at least 2 items",
    ),
    "contrast-group-of-one": Broken(
        {"synonyms.yaml": "contrasts:\n  - terms: [离婚]  # <-\n"},
        "synonyms.yaml",
        "contrast group 1: terms needs at least 2 items",
    ),
    "texts-missing-a-text": Broken(
        {
            "texts.yaml": edit(
                edit(TEXTS, "texts:\n", "texts:  # <-\n"),
                "  smalltalk_bye:\n    zh: 测试文本 smalltalk_bye\n    en: Test text smalltalk_bye\n",
                "",
            )
        },
        "texts.yaml",
        "texts.smalltalk_bye is missing",
    ),
    # --- rules beyond the schema, one entry at a time ---
    "no-zh-question": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    questions:\n      zh: [婚俗改革实验区有哪些]\n",
                "    questions:  # <-\n      zh: []\n",
            )
        },
        "marriage.yaml",
        "entry 'marriage-custom-reform': questions.zh needs at least one question",
    ),
    "answer-over-editorial-limit": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "      en: Shenyang will set up 4 marriage registration points"
                " in scenic spots, parks and similar places.\n",
                "      en: " + "a" * 601 + "  # <-\n",
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': answer.en is 601 characters, over the limit of 600",
    ),
    "answer-over-telegram-limit": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "      zh: 皇姑区是全国婚俗改革实验区，沈北新区是省级婚俗改革实验区。\n",
                "      zh: " + "长" * 4097 + "  # <-\n",
            )
        },
        "marriage.yaml",
        "answer.zh is 4097 characters, too long for one Telegram message (4096)",
    ),
    "related-to-itself": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    related: [marriage-custom-reform]\n",
                "    related: [marriage-points]  # <-\n",
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': related lists the entry itself",
    ),
    # --- across files ---
    "duplicate-entry-id": Broken(
        {
            # Files are read in name order, so elderly.yaml holds the first definition.
            "marriage.yaml": edit(
                MARRIAGE, "  - id: marriage-custom-reform\n", "  - id: elderly-meal-service  # <-\n"
            )
        },
        "marriage.yaml",
        "duplicate entry id 'elderly-meal-service' (first defined at ",
    ),
    "duplicate-category-id": Broken(
        {"categories.yaml": edit(CATEGORIES, "  - id: elderly-care\n", "  - id: marriage  # <-\n")},
        "categories.yaml",
        "duplicate category id 'marriage' (first defined at ",
    ),
    "duplicate-place-id": Broken(
        {
            "elderly.yaml": ELDERLY
            + "  - id: community-canteen  # <-\n"
            + "    kind: canteen\n"
            + "    name: {zh: 社区食堂, en: Community canteen}\n"
            + "    source: {document: 沈将培育200个嵌入式养老服务综合体,"
            + " date: 2024-03-06, section: 图片说明}\n"
        },
        "elderly.yaml",
        "duplicate place id 'community-canteen'",
    ),
    "unknown-related-entry": Broken(
        {
            "marriage.yaml": edit(
                MARRIAGE,
                "    related: [marriage-custom-reform]\n",
                "    related: [marriage-custom-reform, marriage-halls]  # <-\n",
            )
        },
        "marriage.yaml",
        "entry 'marriage-points': related entry 'marriage-halls' does not exist",
    ),
    "unknown-category": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY, "    category: elderly-care\n", "    category: elderly  # <-\n"
            )
        },
        "elderly.yaml",
        "entry 'elderly-meal-service': unknown category 'elderly'",
    ),
    "unknown-place-entry": Broken(
        {
            "elderly.yaml": edit(
                ELDERLY, "    entry: elderly-meal-service\n", "    entry: elderly-meals  # <-\n"
            )
        },
        "elderly.yaml",
        "place 'community-canteen': entry 'elderly-meals' does not exist",
    ),
    "texts-missing": Broken({"texts.yaml": None}, None, "no file defines texts"),
    "texts-defined-twice": Broken(
        {"zz-texts.yaml": edit(TEXTS, "texts:\n", "texts:  # <-\n")},
        "zz-texts.yaml",
        "texts is defined twice (first at ",
    ),
    "no-categories": Broken({"categories.yaml": "categories: []\n"}, None, "no categories"),
    "empty-folder": Broken(
        {name: None for name in ("categories.yaml", "texts.yaml", "marriage.yaml", "elderly.yaml")},
        None,
        "has no *.yaml knowledge files",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_error_is_reported_at_its_file_and_line(knowledge_dir: Path, case: Broken) -> None:
    write_files(knowledge_dir, case.files)
    expected_file = knowledge_dir / case.where if case.where else knowledge_dir
    content = case.files.get(case.where) if case.where else None
    expected_line = marked_line(content) if isinstance(content, str) else None

    report = validate_knowledge(knowledge_dir)

    found = "\n".join(f"  {p.file}:{p.line}: {p.message}" for p in report.errors)
    assert any(
        p.file == expected_file and p.line == expected_line and case.message in p.message
        for p in report.errors
    ), f"wanted {expected_file}:{expected_line}: ...{case.message}...; got\n{found}"
    assert report.knowledge is None
    assert not report.ok
    with pytest.raises(KnowledgeError, match="error") as raised:
        load_knowledge(knowledge_dir)
    assert case.message in str(raised.value)


def test_duplicate_id_names_the_first_definition(knowledge_dir: Path) -> None:
    write_files(knowledge_dir, CASES["duplicate-entry-id"].files)
    (problem,) = validate_knowledge(knowledge_dir).errors
    assert problem.message.endswith(f"(first defined at {knowledge_dir / 'elderly.yaml'}:3)")


def test_texts_defined_twice_names_the_first_file(knowledge_dir: Path) -> None:
    write_files(knowledge_dir, CASES["texts-defined-twice"].files)
    (problem,) = validate_knowledge(knowledge_dir).errors
    assert problem.message == f"texts is defined twice (first at {knowledge_dir / 'texts.yaml'}:2)"


def test_valid_fixture_loads_in_file_order(knowledge_dir: Path) -> None:
    report = validate_knowledge(knowledge_dir, today=dt.date(2024, 3, 6))

    assert report.errors == [] and report.warnings == []
    knowledge = load_knowledge(knowledge_dir)
    # Files are read in name order: elderly.yaml before marriage.yaml.
    assert list(knowledge.entries) == [
        "elderly-meal-service",
        "marriage-points",
        "marriage-custom-reform",
    ]
    assert [c.id for c in knowledge.sorted_categories()] == ["marriage", "elderly-care"]
    assert knowledge.places["community-canteen"].entry == "elderly-meal-service"
    assert knowledge.texts.greeting.zh == "测试文本 greeting"
    # Values are plain Python types, not ruamel's subclasses.
    assert type(knowledge.entries["marriage-points"].questions.zh[0]) is str
    assert knowledge.entries["marriage-points"].updated == dt.date(2024, 3, 6)


def test_other_files_and_backups_are_ignored(knowledge_dir: Path) -> None:
    before = load_knowledge(knowledge_dir).content_hash
    (knowledge_dir / "README.md").write_text("notes", encoding="utf-8")
    (knowledge_dir / ".marriage.yaml.swp").write_text("entries: [", encoding="utf-8")
    (knowledge_dir / ".backups").mkdir()
    (knowledge_dir / ".backups" / "marriage.yaml").write_text("entries: [", encoding="utf-8")

    assert load_knowledge(knowledge_dir).content_hash == before


def test_content_hash_follows_the_bytes(knowledge_dir: Path) -> None:
    first = load_knowledge(knowledge_dir).content_hash
    assert load_knowledge(knowledge_dir).content_hash == first

    path = knowledge_dir / "marriage.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# a new comment\n", encoding="utf-8")
    assert load_knowledge(knowledge_dir).content_hash != first


def test_empty_file_is_allowed(knowledge_dir: Path) -> None:
    (knowledge_dir / "notes.yaml").write_text("# nothing yet\n", encoding="utf-8")
    assert validate_knowledge(knowledge_dir).errors == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (42, "knowledge/marriage.yaml:42: entry 'marriage-points': answer.zh is empty"),
        (None, "knowledge/marriage.yaml: entry 'marriage-points': answer.zh is empty"),
    ],
    ids=["with-line", "without-line"],
)
def test_problem_is_printed_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: int | None, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    problem = Problem(
        tmp_path / "knowledge" / "marriage.yaml",
        line,
        "entry 'marriage-points': answer.zh is empty",
    )
    assert str(problem) == expected


def test_problem_outside_the_working_directory_keeps_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    problem = Problem(tmp_path / "knowledge" / "a.yaml", 3, "oops")
    assert str(problem) == f"{tmp_path / 'knowledge' / 'a.yaml'}:3: oops"


def test_knowledge_error_lists_every_problem(knowledge_dir: Path) -> None:
    write_files(knowledge_dir, {"texts.yaml": None, "categories.yaml": "categories: []\n"})
    with pytest.raises(KnowledgeError) as raised:
        load_knowledge(knowledge_dir)
    assert len(raised.value.problems) >= 2
    for problem in raised.value.problems:
        assert str(problem) in str(raised.value)


@pytest.mark.shipped_data
def test_shipped_knowledge_has_no_errors_and_no_warnings(shipped_dir: Path) -> None:
    report = validate_knowledge(shipped_dir)

    problems = [f"error: {p}" for p in report.errors] + [f"warning: {p}" for p in report.warnings]
    assert not problems, "the shipped knowledge/ has problems:\n" + "\n".join(problems)
    assert report.knowledge is not None and report.knowledge.entries


def _walk_lines(node: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    """(path, line, column) of every key and list item, depth first."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            yield (*path, key, *node.lc.key(key))
            yield from _walk_lines(value, (*path, key))
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            yield (*path, index, *node.lc.item(index))
            yield from _walk_lines(value, (*path, index))


@pytest.mark.skipif(loader.CParser is None, reason="ruamel.yaml.clib is not installed")
def test_libyaml_parse_matches_the_round_trip_loader(shipped_dir: Path) -> None:
    """The fast path must see the same values at the same lines as ruamel's own loader."""
    for path in loader.knowledge_files(shipped_dir):
        data = path.read_bytes()
        reference = YAML(typ="rt")
        reference.Constructor = loader._Constructor
        expected = reference.load(data)

        parsed = loader._load_yaml(data)

        assert parsed == expected, path.name
        assert list(_walk_lines(parsed)) == list(_walk_lines(expected)), path.name


def test_synonyms_and_contrasts_load(knowledge_dir: Path) -> None:
    write_files(
        knowledge_dir,
        {
            "synonyms.yaml": (
                "synonyms:\n  - terms: [结婚登记, 领证]\n"
                "contrasts:\n  - terms: [结婚, 离婚]\n  - terms: [沈阳站, 沈阳北站]\n"
            )
        },
    )
    knowledge = load_knowledge(knowledge_dir)
    assert [g.terms for g in knowledge.synonyms] == [["结婚登记", "领证"]]
    assert [g.terms for g in knowledge.contrasts] == [["结婚", "离婚"], ["沈阳站", "沈阳北站"]]
