"""What the bot writes on GitHub, as pure functions of its state: PR body, progress comment, replies.

Text that came from issues, comments or models is untrusted: it is shown as text, with mentions
defused (no one gets pinged by a title a stranger wrote) and HTML comments broken (so it cannot
forge a marker).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from bot.domain import ItemStatus
from bot.github.gateway import marker
from bot.report.progress import Board
from bot.report.progress import render_markdown as board_markdown
from bot.report.run_report import RunReport, render_markdown, render_pull
from bot.untrusted import redact

_MENTION = re.compile(r"(?<![\w@])@(?=[A-Za-z0-9-])")


def defuse(text: str) -> str:
    """Untrusted text for a GitHub body: no secrets, no @mentions, no HTML comments (markers)."""
    return _MENTION.sub("@\u200b", redact(text)).replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def quote_untrusted(text: str) -> str:
    """Text another user could have written, re-posted by the bot: every ``<``, ``>`` and ``&``
    escaped (no HTML, no markers, no ``<details>`` that hides what follows) and mentions defused."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@\u200b", escaped)


def cost_marker(usd: Decimal) -> str:
    """A hidden record of what a run spent, summed by `/bot cost` from the bot's own comments."""
    return f"<!-- milestone-bot:cost:{json.dumps({'usd': str(usd)})} -->"


_COST = re.compile(r"<!-- milestone-bot:cost:(\{.*?\}) -->")


def costs_in(body: str) -> list[Decimal]:
    out = []
    for raw in _COST.findall(body):
        try:
            out.append(Decimal(json.loads(raw)["usd"]))
        except (ValueError, KeyError, ArithmeticError):
            continue
    return out


def progress_body(board: Board, *, key: str, stage: str, run_url: str = "") -> str:
    link = f" · [workflow run]({run_url})" if run_url else ""
    return (
        f"### milestone-bot: {defuse(stage)}{link}\n\n"
        f"{defuse(board_markdown(board))}\n{marker('progress', key)}\n{cost_marker(board.spent)}\n"
    )


def pr_title(source_title: str) -> str:
    return f"milestone-bot: {source_title}"[:250]


def pr_body(report: RunReport, *, closes: tuple[int, ...], key: str, branch: str = "") -> str:
    """The run report under the title as heading, naming the PR's own ``branch``; ``Closes #N``
    for finished issues."""
    text = defuse(render_pull(report, branch=branch) if branch else render_markdown(report))
    head, sep, attempts = text.partition("### Attempts")
    if sep:
        text = f"{head}<details><summary>Attempt histories</summary>\n\n{attempts.strip()}\n\n</details>\n"
    done = all(i.status is ItemStatus.DONE for i in report.checklist.items)
    lines = [text.rstrip(), ""]
    if closes and done:
        lines.append("\n".join(f"Closes #{n}" for n in closes))
    elif closes:
        lines.append("Not every item is done, so no issue is closed by this PR.")
    lines += ["", marker("pull", key), cost_marker(report.costs.total)]
    return "\n".join(lines) + "\n"


_FRONT = "<!-- milestone-bot:front-matter"


def checklist_comment(file_text: str, *, key: str) -> str:
    """The checklist as a comment: the text of ``checklists/<slug>.md`` (edit it, tick boxes;
    ``/bot run`` reads it back), under a marker the bot finds it by. The YAML front matter goes in
    a hidden block: in a comment GitHub would render it as rules and headings."""
    text = file_text.rstrip()
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            front, text = text[: end + 4], text[end + 5 :].lstrip("\n")
            text = f"{_FRONT}\n{front}\n-->\n\n{text}"
    return f"{text}\n\n{marker('checklist', key)}\n"


def checklist_text(comment_body: str) -> str:
    """The checklist file's text back from a checklist comment (front matter first again)."""
    body = comment_body.replace("\r\n", "\n")
    start = body.find(_FRONT + "\n")
    if start == -1:
        return strip_marker_lines(body)
    end = body.find("\n-->", start)
    front = body[start + len(_FRONT) + 1 : end]
    rest = body[:start] + body[end + len("\n-->") :]
    return f"{front}\n\n{strip_marker_lines(rest).lstrip()}"


def strip_marker_lines(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.startswith("<!-- milestone-bot:")) + "\n"
