"""The comment command grammar: ``/bot <verb> [args] [--options]``, one command per line.

A command starts its own line (up to three spaces of indent, as Markdown allows before a
paragraph). Lines inside fenced code blocks, indented code blocks and quotes (``>``) are never
commands: people paste and quote commands when talking about them. Several commands in one comment
run in the order written. Any text parses: a malformed command becomes a ``CommandProblem`` that
says what is wrong and the right syntax, never an exception.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Verb(StrEnum):
    PLAN = "plan"
    RUN = "run"
    FIX = "fix"
    RETRY = "retry"
    STATUS = "status"
    COST = "cost"
    STOP = "stop"
    HELP = "help"


@dataclass(frozen=True)
class VerbSpec:
    syntax: str
    summary: str
    needs_write: bool  # spends money or writes to the repository
    options: tuple[str, ...] = ()
    min_args: int = 0
    max_args: int | None = 0  # None: any number of words (a milestone title)


SPECS: dict[Verb, VerbSpec] = {
    Verb.PLAN: VerbSpec("plan [milestone]", "turn a milestone (default: this issue's) into a checklist",
                        True, max_args=None),
    Verb.RUN: VerbSpec("run [milestone|#issue] [--parallel N] [--budget USD] [--tier T]",
                       "work the checklist: tests first, validated, one PR", True,
                       ("parallel", "budget", "tier"), max_args=None),
    Verb.FIX: VerbSpec("fix [what to change] [--budget USD] [--tier T]",
                       "fix this issue, tests first; on a PR: its review threads and failing checks (or "
                       "the text given) as follow-up commits on its branch", True,
                       ("budget", "budget-usd", "tier"), max_args=None),
    Verb.RETRY: VerbSpec("retry <item> [--budget USD] [--tier T]", "run one checklist item again", True,
                         ("budget", "tier"), min_args=1, max_args=1),
    Verb.STATUS: VerbSpec("status", "where the current run stands", False),
    Verb.COST: VerbSpec("cost", "what this issue's runs have cost so far", False),
    Verb.STOP: VerbSpec("stop", "stop the current run after the calls in flight", True),
    Verb.HELP: VerbSpec("help", "this list", False),
}  # fmt: skip

MAX_PARALLEL = 64
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TIER = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Command:
    verb: Verb
    target: str = ""  # milestone title, "#12", or an item id
    parallel: int | None = None
    budget: Decimal | None = None
    tier: str | None = None
    line: int = 0  # 1-based line in the comment

    @property
    def needs_write(self) -> bool:
        return SPECS[self.verb].needs_write


@dataclass(frozen=True)
class CommandProblem:
    line: int
    text: str  # the line as written (untrusted: quote it, never run it)
    problem: str
    syntax: str  # the right syntax, or the list of verbs

    def render(self, prefix: str) -> str:
        return f"{self.problem}. Usage: `{prefix} {self.syntax}`"


_DETAILS_OPEN = re.compile(r"<details\b", re.I)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.I)


def _outside_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """The part of ``line`` outside HTML comments, and whether a comment is still open after it."""
    out: list[str] = []
    rest = line
    while rest:
        if in_comment:
            end = rest.find("-->")
            if end == -1:
                return "".join(out), True
            rest, in_comment = rest[end + 3 :], False
        else:
            start = rest.find("<!--")
            if start == -1:
                out.append(rest)
                break
            out.append(rest[:start])
            rest, in_comment = rest[start + 4 :], True
    return "".join(out), in_comment


def command_lines(body: str, prefix: str) -> list[tuple[int, str]]:
    """(line number, text after the prefix) for each line that is a command."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    pattern = re.compile(rf"^ {{0,3}}{re.escape(prefix)}(?:\s+(.*))?$", re.I)
    hidden = 0  # inside <details> (folded away from readers): its lines are never commands
    in_comment = False  # inside an HTML comment (invisible): never a command
    for number, line in enumerate(body.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if fence is None:
            visible, in_comment = _outside_comments(line, in_comment)
            opens, closes = len(_DETAILS_OPEN.findall(visible)), len(_DETAILS_CLOSE.findall(visible))
            was_hidden, hidden = hidden, max(0, hidden + opens - closes)
            if was_hidden or hidden or visible != line:
                continue
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        match = pattern.match(line)
        if match:
            out.append((number, (match.group(1) or "").strip()))
    return out


def parse_commands(body: str, *, prefix: str = "/bot") -> list[Command | CommandProblem]:
    return [_parse_one(number, rest, prefix) for number, rest in command_lines(body, prefix)]


def _parse_one(number: int, rest: str, prefix: str) -> Command | CommandProblem:
    written = f"{prefix} {rest}".strip()
    verbs = ", ".join(v.value for v in Verb)
    if not rest:
        return CommandProblem(number, written, "no command given", f"<verb>; verbs: {verbs}")
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        if rest.split()[0].lower() != Verb.FIX.value:
            return CommandProblem(number, written, f"cannot read the command ({exc})", "<verb> [args]")
        words = rest.split()  # a fix request is prose: "don't" must not need quoting
    try:
        verb = Verb(words[0].lower())
    except ValueError:
        return CommandProblem(
            number, written, f"unknown command {words[0][:40]!r}", f"<verb>; verbs: {verbs}"
        )
    spec = SPECS[verb]
    args: list[str] = []
    options: dict[str, str] = {}
    rest_words = words[1:]
    i = 0
    while i < len(rest_words):
        word = rest_words[i]
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            name = name.lower()
            if name not in spec.options:
                allowed = ", ".join(f"--{o}" for o in spec.options) or "none"
                return CommandProblem(
                    number,
                    written,
                    f"{verb.value} takes no option --{name[:30]} (options: {allowed})",
                    spec.syntax,
                )
            if not eq:
                if i + 1 >= len(rest_words):
                    return CommandProblem(number, written, f"--{name} needs a value", spec.syntax)
                i += 1
                value = rest_words[i]
            options["budget" if name == "budget-usd" else name] = value
        else:
            args.append(word)
        i += 1
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        want = (
            "no arguments"
            if spec.max_args == 0
            else f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
        )
        return CommandProblem(number, written, f"{verb.value} takes {want}, got {len(args)}", spec.syntax)
    parallel = budget = tier = None
    if "parallel" in options:
        text = options["parallel"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_PARALLEL:
            return CommandProblem(
                number, written, f"--parallel must be a whole number from 1 to {MAX_PARALLEL}", spec.syntax
            )
        parallel = int(text)
    if "budget" in options:
        try:
            budget = Decimal(options["budget"].lstrip("$"))
        except InvalidOperation:
            budget = None
        if budget is None or not budget.is_finite() or budget <= 0:
            return CommandProblem(
                number, written, "--budget must be an amount in USD above zero, like 5 or 2.50", spec.syntax
            )
    if "tier" in options:
        tier = options["tier"]
        if not _TIER.match(tier):
            return CommandProblem(
                number, written, "--tier must be the name of a tier in the config", spec.syntax
            )
    return Command(verb, " ".join(args), parallel, budget, tier, number)


def help_text(prefix: str) -> str:
    """Every verb, its syntax and who may use it, as Markdown."""
    rows = ["| command | what it does | who may use it |", "| --- | --- | --- |"]
    for spec in SPECS.values():
        who = "write, maintain or admin permission" if spec.needs_write else "anyone"
        rows.append(f"| `{prefix} {spec.syntax}` | {spec.summary} | {who} |")
    rows.append("")
    rows.append(
        "A command starts its own line; lines in code blocks, quotes, HTML comments and "
        "`<details>` are ignored."
    )
    return "\n".join(rows)
