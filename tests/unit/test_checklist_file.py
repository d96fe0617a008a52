"""The checklist file: exact round trip, human edits, and broken files rejected with line and fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Checklist, Item, ItemKind, ItemStatus
from bot.errors import ChecklistError
from bot.planning.checklist_file import parse, render

ROOT = Path(__file__).resolve().parents[2]

CHECKLIST = Checklist(
    ref="milestone#3",
    title="Offline mode",
    budget_usd=Decimal("5.00"),
    items=(
        Item("cache", "Add a cache for API responses", "Cache GET responses.\nKeep 100 entries -- at most.",
             acceptance_tests=("tests/test_cache.py::test_hit",), allowed_files=("src/cache/*",)),
        Item("retry", "Retry on timeouts <b>twice</b>", kind=ItemKind.BUGFIX, depends_on=("cache",),
             status=ItemStatus.DONE, attempts=2, cost_usd=Decimal("0.031"), branch="milestone-bot/r1/retry",
             commit="abc123", tier_hint="fast"),
        Item("docs", "Document offline mode", kind=ItemKind.DOCS, depends_on=("cache", "retry"), tests_exist=True,
             status=ItemStatus.BUDGET_EXCEEDED),
    ),
)  # fmt: skip


def test_round_trip_is_exact() -> None:
    text = render(CHECKLIST)
    assert parse(text) == CHECKLIST
    assert render(parse(text)) == text
    assert "- [x] Retry on timeouts <b>twice</b> <!-- milestone-bot:" in text
    assert "-->" not in text.split("<!-- milestone-bot:")[1].split(" -->")[0]  # the comment cannot end early


_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
_text = st.text(
    st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    titles=st.lists(
        _text.map(lambda t: " ".join(t.replace("<!--", "").replace("-->", "").split())).filter(bool),
        min_size=1,
        max_size=5,
    ),
    description=_text,
    budget=st.one_of(st.none(), st.decimals(min_value=0, max_value=10_000, places=4)),
    status=st.sampled_from(list(ItemStatus)),
)
def test_round_trip_property(
    titles: list[str], description: str, budget: Decimal | None, status: ItemStatus
) -> None:
    items = tuple(
        Item(
            f"item-{n}",
            title,
            description=description,
            status=status,
            depends_on=(f"item-{n - 1}",) if n else (),
        )
        for n, title in enumerate(titles)
    )
    checklist = Checklist("issue#9", "A title: with -- odd <chars>", items, budget)
    assert parse(render(checklist)) == checklist


def test_human_edits_are_taken() -> None:
    text = render(CHECKLIST)
    lines = text.splitlines()
    edited = [
        line.replace("Add a cache for API responses", "Add an LRU cache")
        .replace("- [ ] Add", "- [x] Add")
        .replace("- [x] Retry", "- [ ] Retry")
        for line in lines
    ]
    # Move the docs line first, and add an item by hand.
    docs = next(i for i, line in enumerate(edited) if "Document offline" in line)
    first = next(i for i, line in enumerate(edited) if line.startswith("- ["))
    edited.insert(first, edited.pop(docs))
    edited.append("- [ ] Add a settings page")
    result = parse("\n".join(edited) + "\n")
    assert [i.id for i in result.items] == ["docs", "cache", "retry", "add-a-settings-page"]
    assert result.item("cache").title == "Add an LRU cache"
    assert result.item("cache").status is ItemStatus.DONE  # ticked by a person
    assert result.item("retry").status is ItemStatus.PENDING  # unticked: do it again
    assert result.item("retry").attempts == 2  # history kept
    assert result.item("add-a-settings-page").kind is ItemKind.FEATURE


def _broken(text: str) -> list[str]:
    with pytest.raises(ChecklistError) as info:
        parse(text, file="checklists/x.md")
    return [p.render("checklists/x.md") for p in info.value.problems]


GOOD = render(CHECKLIST)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# no front matter\n- [ ] a\n", "checklists/x.md:1: the file must start with YAML front matter"),
        ("---\nref: x\ntitle: y\n", "checklists/x.md:1: the front matter is not closed"),
        ("---\nref: [unclosed\ntitle: y\n---\n", "checklists/x.md:3: front matter is not valid YAML"),
        ("---\nref: x\n---\n", "checklists/x.md:2: front matter needs title: (text) — add title: ..."),
        ("---\nref: x\ntitle: y\nowner: me\n---\n", "checklists/x.md:2: unknown front matter key 'owner'"),
        (
            "---\nref: x\ntitle: y\nbudget_usd: lots\n---\n",
            "checklists/x.md:2: budget_usd 'lots' is not an amount",
        ),
        (
            GOOD.replace('{"id": "cache"', '{"id": "cache",,'),
            "checklists/x.md:10: item metadata is not valid JSON",
        ),
        (
            GOOD.replace('{"id": "cache"', '{"id": "cache", "colour": "red"'),
            "checklists/x.md:10: item metadata colour: Extra inputs",
        ),
        (
            GOOD.replace('"kind": "bugfix"', '"kind": "bug"'),
            "checklists/x.md:11: item metadata kind: Input should be",
        ),
        (
            GOOD.replace('{"id": "docs"', '{"id": "cache"'),
            "checklists/x.md:12: item id 'cache' is also used on line 10",
        ),
        (
            GOOD.replace('"depends_on": ["cache"]', '"depends_on": ["cahce"]'),
            "checklists/x.md:11: item 'retry' depends on unknown item 'cahce'",
        ),
        (
            GOOD.replace('{"id": "cache"', '{"id": "cache", "depends_on": ["docs"]'),
            "dependency cycle: cache -> docs -> cache",
        ),
        (
            GOOD.replace("- [ ] Add a cache for API responses", "- [ ] "),
            "checklists/x.md:10: item has no title",
        ),
    ],
)
def test_broken_files_are_rejected_with_line_and_fix(text: str, expected: str) -> None:
    problems = _broken(text)
    assert any(expected in p for p in problems), problems
    assert all(" — " in p for p in problems)  # every problem says how to fix it


@pytest.mark.parametrize("name", ["feature", "bugfix", "red-build"])
def test_templates_parse(name: str) -> None:
    checklist = parse((ROOT / "checklists" / "templates" / f"{name}.md").read_text(), file=name)
    assert checklist.items
    assert parse(render(checklist)) == checklist


def test_spec_example_parses() -> None:
    import re

    spec = (ROOT / "checklists" / "README.md").read_text()
    [example] = re.findall(r"```markdown\n(.*?)```", spec, re.S)
    checklist = parse(example)
    assert [i.id for i in checklist.items] == ["cache", "retry"]
    assert checklist.item("retry").cost_usd == Decimal("0.031")
