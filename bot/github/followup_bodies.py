"""What a follow-up on a pull request writes: the reply in each review thread, the summary comment,
and the follow-up section of the PR body (its checklist and cost table). Pure functions.

The PR body section keeps every round (a hidden JSON record, re-read on the next round) so the
table and its total grow with each follow-up instead of being replaced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.domain import Item, ItemStatus
from bot.github.bodies import cost_marker, defuse, quote_untrusted
from bot.untrusted import redact

SECTION_START = "<!-- milestone-bot:followups:start -->"
SECTION_END = "<!-- milestone-bot:followups:end -->"
_ROUNDS = re.compile(r"<!-- milestone-bot:followup-rounds:(\[.*?\]) -->", re.S)


REASON_LIMIT = 500  # characters of one untrusted reason in a reply
SUMMARY_LIMIT = 1500  # the round's summary, which may list several reasons
# What Markdown acts on inside a line (emphasis, links and images, code, tables, strikethrough),
# each shown as itself after a backslash; < > & become entities (no HTML: no <details>, no marker).
_INLINE = re.compile(r"([\\`*_\[\]|~])")


def untrusted_line(text: str, *, limit: int = REASON_LIMIT) -> str:
    """A reason that came from a work job's artifact or a tool's output, for a GitHub body: redacted,
    on one line (no heading, list, quote or code block can start), at most ``limit`` characters,
    with no link, image, HTML, marker or @mention left in it."""
    flat = " ".join(redact(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return quote_untrusted(_INLINE.sub(r"\\\1", flat))


def usd(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.000001'))}"  # a local tier's calls cost fractions of a cent


def short(sha: str) -> str:
    return sha[:10] if sha else "—"


def thread_reply(item: Item, *, commit: str, validation: str, note: str, pushed: bool) -> str:
    """The answer in a review thread: what changed, the commit, the validation, the cost; or why not."""
    cost = usd(item.cost_usd)
    if item.status is ItemStatus.DONE and commit and pushed:
        return (
            f"Done in {short(commit)} on this branch: {defuse(item.title).rstrip('.')}.\n\n"
            f"Validation: {defuse(validation)}. Cost: {cost}."
        )
    if item.status is ItemStatus.DONE:
        why = untrusted_line(note) or "it was not pushed"
        return f"I made this change, but it is not on the branch: {why}. Cost: {cost}."
    why = untrusted_line(note) or f"the item ended {item.status.value}"
    return f"I could not address this: {why}. Cost: {cost}. Nothing was pushed for it."


def summary_comment(
    *,
    number: int,
    items: tuple[Item, ...],
    commits: dict[str, str],
    head: str | None,
    summary: str,
    spent: Decimal,
    moved: bool,
    not_taken: tuple[str, ...] = (),
) -> str:
    """One comment on the PR for the whole follow-up round; ``not_taken``: the open threads left out
    because their author may not write to the repository."""
    said = untrusted_line(summary, limit=SUMMARY_LIMIT)
    lines = [f"### milestone-bot: follow-up on #{number}", "", said, ""]
    if head:
        lines.append(f"Pushed {short(head)} on top of the branch (no force; earlier commits kept).")
    if moved:
        lines.append("The branch moved while I worked: I re-read it and replayed the commits on top.")
    lines += ["", "| item | status | commit | cost |", "| --- | --- | --- | --- |"]
    for item in items:
        commit = commits.get(item.id, "") if head else ""
        lines.append(
            f"| {defuse(item.title)[:80]} | {item.status.value} | {short(commit)} | {usd(item.cost_usd)} |"
        )
    if not_taken:
        lines += ["", "Not taken: written by someone without write access:"]
        lines += [f"- {untrusted_line(t, limit=200)}" for t in not_taken]
    lines += ["", f"Spent {usd(spent)}.", cost_marker(spent)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Round:
    head: str  # "" when nothing was pushed
    spent: Decimal
    items: tuple[tuple[str, bool], ...]  # (title, done)


def _rounds(body: str) -> list[Round]:
    found = _ROUNDS.search(body)
    if not found:
        return []
    try:
        raw = json.loads(found.group(1))
        return [
            Round(str(r["head"]), Decimal(str(r["usd"])), tuple((str(t), bool(d)) for t, d in r["items"]))
            for r in raw
        ]
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return []  # a human edited it into nonsense: start the record again


def with_round(body: str, new: Round) -> str:
    """The PR body with its follow-up section updated: every round's checklist, a cost row per
    round and the total (the run's own cost table above is left as it was)."""
    start, end = body.find(SECTION_START), body.find(SECTION_END)
    rounds = [*_rounds(body[start:end]), new] if start != -1 and end > start else [new]
    before = body[:start].rstrip() if start != -1 and end > start else body.rstrip()
    after = body[end + len(SECTION_END) :].lstrip("\n") if start != -1 and end > start else ""
    lines = [SECTION_START, "### Follow-ups", ""]
    for n, r in enumerate(rounds, start=1):
        for title, done in r.items:
            lines.append(f"- [{'x' if done else ' '}] {defuse(title)[:120]} (round {n})")
    lines += ["", "| round | pushed | cost |", "| --- | --- | --- |"]
    for n, r in enumerate(rounds, start=1):
        lines.append(f"| {n} | {short(r.head) if r.head else 'nothing'} | {usd(r.spent)} |")
    total = sum((r.spent for r in rounds), Decimal(0))
    lines.append(f"| **total** | | **{usd(total)}** |")
    record = [
        {"head": r.head, "usd": str(r.spent), "items": [[defuse(t), d] for t, d in r.items]} for r in rounds
    ]
    lines += ["", f"<!-- milestone-bot:followup-rounds:{json.dumps(record)} -->", SECTION_END]
    section = "\n".join(lines)
    return f"{before}\n\n{section}\n" + (f"\n{after}" if after else "")
