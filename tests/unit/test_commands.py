"""The comment command grammar: every verb, the edge cases, and no text that crashes it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events.commands import SPECS, Command, CommandProblem, Verb, help_text, parse_commands


def one(body: str, prefix: str = "/bot") -> Command | CommandProblem:
    parsed = parse_commands(body, prefix=prefix)
    assert len(parsed) == 1, parsed
    return parsed[0]


def test_every_verb_parses() -> None:
    assert one("/bot plan") == Command(Verb.PLAN, line=1)
    assert one("/bot plan v1.2 release") == Command(Verb.PLAN, "v1.2 release", line=1)
    assert one('/bot run "Big milestone" --parallel 4 --budget $2.50 --tier fast') == Command(
        Verb.RUN, "Big milestone", 4, Decimal("2.50"), "fast", 1
    )
    assert one("/bot run #12 --parallel=8") == Command(Verb.RUN, "#12", parallel=8, line=1)
    assert one("/bot fix --budget 1") == Command(Verb.FIX, budget=Decimal("1"), line=1)
    assert one("/bot retry add-div") == Command(Verb.RETRY, "add-div", line=1)
    for verb in (Verb.STATUS, Verb.COST, Verb.STOP, Verb.HELP):
        assert one(f"/bot {verb.value}") == Command(verb, line=1)
    assert {v for v in Verb} == set(SPECS)


def test_verbs_are_case_insensitive_and_commands_run_in_order() -> None:
    body = "Thanks!\n/BOT Plan\nsome text\n   /bot RUN --parallel 2\n/botrun is not a command\n"
    assert parse_commands(body) == [Command(Verb.PLAN, line=2), Command(Verb.RUN, parallel=2, line=4)]


def test_code_blocks_quotes_and_inline_code_are_not_commands() -> None:
    body = (
        "> /bot run\n"
        "```\n/bot run\n```\n"
        "~~~~text\n/bot stop\n~~~\nstill inside\n~~~~\n"
        "    /bot run  (indented code)\n"
        "use `/bot run` to start\n"
        "/bot status\n"
    )
    assert parse_commands(body) == [Command(Verb.STATUS, line=12)]


def test_unclosed_fence_hides_the_rest() -> None:
    assert parse_commands("```\n/bot run\n") == []


def test_custom_prefix() -> None:
    assert one("!mb fix", prefix="!mb") == Command(Verb.FIX, line=1)
    assert parse_commands("/bot fix", prefix="!mb") == []


def test_bad_commands_say_what_is_wrong_and_the_syntax() -> None:
    cases = {
        "/bot": "no command given",
        "/bot deploy": "unknown command 'deploy'",
        "/bot retry": "retry takes 1 argument, got 0",
        "/bot status now": "status takes no arguments, got 1",
        "/bot run --parallel 0": "--parallel must be a whole number from 1 to 64",
        "/bot run --parallel many": "--parallel must be a whole number",
        "/bot run --budget -3": "--budget must be an amount in USD above zero",
        "/bot run --budget NaN": "--budget must be an amount in USD above zero",
        "/bot run --budget": "--budget needs a value",
        "/bot plan --parallel 2": "plan takes no option --parallel (options: none)",
        "/bot run --tier 'a b'": "--tier must be the name of a tier",
        '/bot run "unclosed': "cannot read the command",
    }
    for body, problem in cases.items():
        parsed = one(body)
        assert isinstance(parsed, CommandProblem), body
        assert problem in parsed.problem, (body, parsed.problem)
        assert parsed.render("/bot").startswith(parsed.problem + ". Usage: `/bot ")


def test_help_lists_every_verb_with_who_may_use_it() -> None:
    text = help_text("/bot")
    for spec in SPECS.values():
        assert f"`/bot {spec.syntax}`" in text
    assert "| `/bot help` | this list | anyone |" in text
    assert (
        "| `/bot stop` | stop the current run after the calls in flight | write, maintain or admin permission |"
        in text
    )


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.sampled_from(["/bot", "!mb", "@bot"]))
def test_no_text_crashes_the_parser(body: str, prefix: str) -> None:
    for parsed in parse_commands(body, prefix=prefix):
        assert isinstance(parsed, Command | CommandProblem)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "/bot ",
                "run",
                "plan",
                " --parallel",
                " --budget",
                " 3",
                " x",
                "\n",
                "```",
                "> ",
                '"',
                "--tier=a",
                "    ",
            ]
        ),
        max_size=30,
    )
)
def test_command_shaped_noise_never_crashes(parts: list[str]) -> None:
    body = "".join(parts)
    for parsed in parse_commands(body):
        assert isinstance(parsed, Command | CommandProblem)


def test_commands_in_html_comments_and_details_are_ignored() -> None:
    body = (
        "<!-- /bot run -->\n"  # 1: invisible
        "<!--\n/bot run --budget 100\n-->\n"  # 2-4: invisible
        "<details><summary>log</summary>\n\n/bot stop\n\n</details>\n"  # 5-9: folded away
        "<DETAILS>\n<details>\n/bot run\n</details>\n/bot run\n</details>\n"  # 10-15: nested
        "text <!-- hidden --> more\n"  # 16
        "/bot status\n"  # 17
        "<!-- unclosed\n/bot run\n"  # 18-19: the rest is a comment
    )
    assert parse_commands(body) == [Command(Verb.STATUS, line=17)]
