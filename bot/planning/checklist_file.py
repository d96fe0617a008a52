"""The checklist file, ``checklists/<slug>.md``: a GitHub task list people can read and edit.

YAML front matter holds the checklist's own fields; each item is a task-list line whose metadata
rides in a hidden HTML comment, so GitHub shows a clean checklist. ``parse(render(c)) == c``.
People may edit titles, tick or untick boxes, reorder lines, and add plain ``- [ ] ...`` lines (new
items); anything broken is rejected with its line number and the fix. Spec: checklists/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain import Checklist, Item, ItemKind, ItemStatus, graph_problems
from bot.errors import ChecklistError, ChecklistProblem
from bot.untrusted import redact

FORMAT = 1
MARK = "milestone-bot:"
_ITEM = re.compile(
    r"^\s*[-*] \[(?P<box>[ xX])\] (?P<title>.*?)\s*(?:<!-- " + re.escape(MARK) + r" (?P<meta>.*) -->)?\s*$"
)
_SLUG = re.compile(r"[^a-z0-9]+")
_FRONT_KEYS = {"format", "ref", "title", "budget_usd"}


class _Meta(BaseModel):
    """An item's metadata as it is written in its line's comment; defaults are left out."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    kind: ItemKind = ItemKind.FEATURE
    acceptance_tests: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    allowed_files: list[str] = Field(default_factory=list)
    tier_hint: str | None = None
    tests_exist: bool = False
    status: ItemStatus = ItemStatus.PENDING
    attempts: int = Field(default=0, ge=0)
    cost_usd: str = "0"
    branch: str = ""
    commit: str = ""


_DEFAULTS = {f.name: f.default for f in fields(Item) if f.name not in ("id", "title")}


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:50] or "item"


def _comment_json(data: dict[str, Any]) -> str:
    # "--" and ">" can never appear raw, so no text can close the HTML comment early.
    text = json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
    return text.replace("--", "-\\u002d").replace(">", "\\u003e").replace("<", "\\u003c")


def render(checklist: Checklist) -> str:
    front: dict[str, Any] = {"format": FORMAT, "ref": checklist.ref, "title": checklist.title}
    if checklist.budget_usd is not None:
        front["budget_usd"] = str(checklist.budget_usd)
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {checklist.title}", ""]
    for item in checklist.items:
        title = item.title.strip()
        if not title or "\n" in title or "<!--" in title or "-->" in title:
            raise ValueError(f"item {item.id!r}: a title must be one line of text without comment markers")
        meta: dict[str, Any] = {"id": item.id}
        for name, default in _DEFAULTS.items():
            value = getattr(item, name)
            if value != default:
                meta[name] = (
                    str(value)
                    if isinstance(value, Decimal | ItemKind | ItemStatus)
                    else (list(value) if isinstance(value, tuple) else value)
                )
        box = "x" if item.status is ItemStatus.DONE else " "
        lines.append(f"- [{box}] {title} <!-- {MARK} {_comment_json(meta)} -->")
    return redact("\n".join(lines) + "\n")  # a token pasted into an issue is not copied on


def _front(lines: list[str], problems: list[ChecklistProblem]) -> tuple[dict[str, Any], int]:
    if not lines or lines[0].strip() != "---":
        problems.append(
            ChecklistProblem(
                1, "the file must start with YAML front matter", "add '---', ref: and title:, '---'"
            )
        )
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        problems.append(ChecklistProblem(1, "the front matter is not closed", "add a line '---' after it"))
        return {}, 0
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problems.append(
            ChecklistProblem(
                line, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}", "fix the YAML"
            )
        )
        return {}, end + 1
    if not isinstance(data, dict):
        problems.append(ChecklistProblem(2, "front matter must be key: value lines", "write ref: and title:"))
        return {}, end + 1
    for key in sorted(set(data) - _FRONT_KEYS):
        problems.append(
            ChecklistProblem(
                2, f"unknown front matter key {key!r}", f"use only {', '.join(sorted(_FRONT_KEYS))}"
            )
        )
    for key in ("ref", "title"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(ChecklistProblem(2, f"front matter needs {key}: (text)", f"add {key}: ..."))
    return data, end + 1


def _budget(data: dict[str, Any], problems: list[ChecklistProblem]) -> Decimal | None:
    raw = data.get("budget_usd")
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal(-1)
    if value < 0 or not value.is_finite():
        problems.append(
            ChecklistProblem(
                2, f"budget_usd {raw!r} is not an amount", "write a number, e.g. budget_usd: '5.00'"
            )
        )
        return None
    return value


def _item(
    number: int,
    box: str,
    title: str,
    meta_text: str | None,
    taken: set[str],
    problems: list[ChecklistProblem],
) -> Item | None:
    if not title:
        problems.append(
            ChecklistProblem(number, "item has no title", "write the item's title after the checkbox")
        )
        return None
    if meta_text is None:  # a line a person added: a new item
        base = slug(title)
        new_id, n = base, 2
        while new_id in taken:
            new_id, n = f"{base}-{n}", n + 1
        meta = _Meta(id=new_id)
    else:
        try:
            meta = _Meta.model_validate(json.loads(meta_text))
        except json.JSONDecodeError as exc:
            problems.append(
                ChecklistProblem(
                    number,
                    f"item metadata is not valid JSON ({exc.msg})",
                    "restore the <!-- milestone-bot: ... --> comment, or delete it to re-add the item as new",
                )
            )
            return None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            problems.append(
                ChecklistProblem(
                    number, f"item metadata {where}: {first['msg']}", "fix that value in the comment"
                )
            )
            return None
    try:
        cost = Decimal(meta.cost_usd)
    except InvalidOperation:
        problems.append(
            ChecklistProblem(
                number, f"cost_usd {meta.cost_usd!r} is not an amount", "write it as a number in quotes"
            )
        )
        return None
    status = meta.status
    ticked = box in "xX"
    if ticked and status is not ItemStatus.DONE:
        status = ItemStatus.DONE  # a person ticked it: done
    elif not ticked and status is ItemStatus.DONE:
        status = ItemStatus.PENDING  # a person unticked it: do it again
    return Item(
        id=meta.id,
        title=title,
        description=meta.description,
        kind=meta.kind,
        acceptance_tests=tuple(meta.acceptance_tests),
        depends_on=tuple(meta.depends_on),
        allowed_files=tuple(meta.allowed_files),
        tier_hint=meta.tier_hint,
        tests_exist=meta.tests_exist,
        status=status,
        attempts=meta.attempts,
        cost_usd=cost,
        branch=meta.branch,
        commit=meta.commit,
    )


def parse(text: str, *, file: str = "<checklist>") -> Checklist:
    lines = text.replace("\r\n", "\n").split("\n")
    problems: list[ChecklistProblem] = []
    front, start = _front(lines, problems)
    budget = _budget(front, problems)
    items: list[Item] = []
    where: dict[str, int] = {}
    for number in range(start + 1, len(lines) + 1):
        match = _ITEM.match(lines[number - 1])
        if not match:
            continue
        item = _item(number, match["box"], match["title"].strip(), match["meta"], set(where), problems)
        if item is None:
            continue
        if item.id in where:
            problems.append(
                ChecklistProblem(
                    number,
                    f"item id {item.id!r} is also used on line {where[item.id]}",
                    "give each item its own id",
                )
            )
            continue
        where[item.id] = number
        items.append(item)
    for problem in graph_problems(tuple(items)):
        quoted = re.findall(r"'([^']+)'", problem)
        line = where.get(quoted[0], 0) if quoted else 0
        problems.append(ChecklistProblem(line, problem, "fix depends_on in that item's comment"))
    if problems:
        raise ChecklistError(file, problems)
    return Checklist(ref=str(front["ref"]), title=str(front["title"]), items=tuple(items), budget_usd=budget)
