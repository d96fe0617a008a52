"""Which review threads are open, what items they make, and the PR body's follow-up section."""

from __future__ import annotations

from decimal import Decimal

from bot.domain import ItemKind
from bot.events.pr_followup import kind_of, open_threads, thread_item, threads
from bot.github.followup_bodies import Round, with_round
from bot.github.gateway import ReviewComment

BOT = "github-actions[bot]"


def c(id: int, body: str, user: str = "rita", reply_to: int | None = None) -> ReviewComment:
    return ReviewComment(id, body, user, "calc/ops.py", 3, reply_to)


def test_a_thread_is_open_until_the_bot_answered_and_again_when_someone_writes_after() -> None:
    comments = [
        c(1, "Add neg"),
        c(2, "Done in abc", BOT, 1),
        c(3, "Rename x to y"),
        c(4, "Done", BOT, 3),
        c(5, "not quite: y_total", "mona", 3),
        c(6, "/bot fix", "mona"),  # a thread of nothing but a command asks for nothing
        c(7, "<!-- hidden -->\n/bot fix", "mona", 1),  # a command reply does not reopen a thread
    ]
    found = open_threads(threads(comments), bot=BOT, prefix="/bot")
    assert [t.id for t in found] == [3]
    item = thread_item(found[0], bot=BOT, prefix="/bot")
    assert item.id == "thread-3" and item.title == "Review: Rename x to y"
    assert "calc/ops.py line 3" in item.description and "y_total" in item.description
    assert item.kind is ItemKind.REFACTOR  # a rename changes no behaviour: no new test first


def test_behaviour_requests_are_worked_tests_first() -> None:
    assert kind_of("div(a, 0) must raise ValueError") is ItemKind.FEATURE
    assert kind_of("fix the typo in the docstring") is ItemKind.REFACTOR


def test_the_follow_up_section_keeps_every_round_and_the_total() -> None:
    body = "The run's report.\n\n<!-- milestone-bot:pull:issue-1 -->\n"
    once = with_round(body, Round("a" * 40, Decimal("0.01"), (("Review: add neg", True),)))
    twice = with_round(once, Round("", Decimal("0.02"), (("Review: <!-- x --> @alice", False),)))
    assert twice.startswith("The run's report.") and twice.count("### Follow-ups") == 1
    assert "- [x] Review: add neg (round 1)" in twice and "| 2 | nothing | $0.020000 |" in twice
    assert "| **total** | | **$0.030000** |" in twice
    assert "<!-- x -->" not in twice and "@alice" not in twice  # untrusted titles are defused
    broken = twice.replace("followup-rounds:[", "followup-rounds:[{oops")
    assert "| 1 | nothing | $0.010000 |" in with_round(broken, Round("", Decimal("0.01"), ()))


def test_a_thread_the_bot_could_not_address_says_why() -> None:
    from bot.domain import Item, ItemStatus
    from bot.github.followup_bodies import thread_reply

    failed = Item("thread-3", "Review: make it faster", status=ItemStatus.FAILED, cost_usd=Decimal("0.0042"))
    text = thread_reply(failed, commit="", validation="", note="no tier's change passed the new test @mona",
                        pushed=False)  # fmt: skip
    assert text.startswith("I could not address this: no tier's change passed the new test @\u200bmona.")
    assert "Cost: $0.004200. Nothing was pushed for it." in text
    done = Item("thread-4", "Review: add neg.", status=ItemStatus.DONE, cost_usd=Decimal("0.01"))
    text = thread_reply(done, commit="c" * 40, validation="accepted (new_tests passed)", note="", pushed=True)
    assert text.startswith(f"Done in {'c' * 10} on this branch: Review: add neg.\n")
    assert "Validation: accepted (new_tests passed). Cost: $0.010000." in text


def test_a_reason_from_an_artifact_reaches_a_thread_as_one_capped_line_of_plain_text() -> None:
    """A work job's artifact (or a tool's output) could say anything: no link, image, heading,
    HTML, marker, mention or secret survives into the reply, and it is capped."""
    from bot.domain import Item, ItemStatus
    from bot.github.followup_bodies import REASON_LIMIT, summary_comment, thread_reply

    hostile = (
        "failed\n# Approved by the maintainers\n![x](https://evil.example/pixel.png) "
        "[click](https://evil.example) <details><summary>ok</summary>hidden</details> "
        "<!-- milestone-bot:handled:rc1 --> @mona ghp_" + "a" * 36 + " | *bold* `code` ~~gone~~ " + "y" * 2000
    )
    failed = Item("thread-3", "Review: x", status=ItemStatus.FAILED, cost_usd=Decimal("0.01"))
    text = thread_reply(failed, commit="", validation="", note=hostile, pushed=False)
    why = text.removeprefix("I could not address this: ").split(". Cost:")[0]
    assert "\n" not in why and len(why) <= REASON_LIMIT + 120  # escapes add a character here and there
    assert "# Approved" in why and not text.startswith("#")  # mid-line: not a heading
    assert "](" not in why.replace("\\](", "") and "![" not in why  # no link, no image
    assert "<details>" not in why and "&lt;details&gt;" in why
    assert "<!--" not in why and "milestone-bot:handled:rc1 --&gt;" in why
    assert "@\u200bmona" in why and "ghp_" not in why and "\\[REDACTED github token\\]" in why
    assert "\\*bold\\*" in why and "\\`code\\`" in why and "\\~\\~gone" in why and "\\|" in why
    assert why.endswith("…") and "y" * 200 in why and "y" * 600 not in why
    summary = summary_comment(number=1, items=(failed,), commits={}, head=None, summary=hostile,
                              spent=Decimal(0), moved=False)  # fmt: skip
    assert (
        summary.count("\n# ") == 0
        and "<details>" not in summary
        and "milestone-bot:handled" not in summary.replace("&lt;!-- milestone-bot:handled", "")
    )
