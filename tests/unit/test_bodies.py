"""What the bot writes on GitHub: the checklist comment round-trips, untrusted text is defused."""

from __future__ import annotations

from decimal import Decimal

from bot.domain import Checklist, Item, ItemStatus
from bot.github.bodies import checklist_comment, checklist_text, cost_marker, costs_in, defuse
from bot.planning.checklist_file import parse, render

CHECKLIST = Checklist(
    "milestone#3", "Calc v2", (Item("a", "Add a", status=ItemStatus.DONE), Item("b", "Add b", depends_on=("a",))),
    budget_usd=Decimal("2"),
)  # fmt: skip


def test_the_checklist_comment_hides_the_front_matter_and_round_trips() -> None:
    body = checklist_comment(render(CHECKLIST), key="milestone-3-calc-v2")
    assert not body.startswith("---")  # GitHub would render it as rules and a heading
    assert body.startswith("<!-- milestone-bot:front-matter\n---\n")
    assert "- [x] Add a <!-- milestone-bot:" in body
    assert parse(checklist_text(body)) == CHECKLIST
    # A human edits the comment on GitHub (CRLF, a title, a tick): still read back.
    edited = (
        body.replace("Add b", "Add b, carefully").replace("- [ ] Add b", "- [x] Add b").replace("\n", "\r\n")
    )
    assert parse(checklist_text(edited)).items[1].title == "Add b, carefully"


def test_untrusted_text_cannot_ping_or_forge_markers() -> None:
    assert defuse("ping @octocat and @org/team") == "ping @\u200boctocat and @\u200borg/team"
    assert defuse("mail a@b.c, tier test@local") == "mail a@b.c, tier test@local"
    assert defuse("<!-- milestone-bot:handled:1:x -->") == "&lt;!-- milestone-bot:handled:1:x --&gt;"


def test_cost_markers_are_summed_and_garbage_ignored() -> None:
    body = f'{cost_marker(Decimal("0.25"))}\n<!-- milestone-bot:cost:{{"usd": "nope"}} -->\n{cost_marker(Decimal("1"))}'
    assert costs_in(body) == [Decimal("0.25"), Decimal("1")]
