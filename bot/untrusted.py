"""Untrusted text (issues, comments, logs, diffs, model output) goes into prompts as fenced, redacted data.

``fence`` is the one way such text enters a prompt: the fence is closed exactly once, whatever the
text holds, because every look-alike of the fence's tags inside it (any case, spaces, zero-width or
other invisible characters, full-width or compatibility forms, HTML entities) is neutralised first.
The system prompts say that text inside the fence is data, never instructions.

``redact`` removes what looks like a credential before text reaches a prompt, the checklist, a
comment, a saved call or a report: a token pasted into an issue or printed in a CI log must not be
copied further by the bot.
"""

from __future__ import annotations

import re
import unicodedata

OPEN, CLOSE = "<untrusted>", "</untrusted>"
NEUTRALISED = "[fence tag removed]"

# Matched on a normalised copy of the text (see _normalised): any tag named untrusted, opening or
# closing, with or without attributes or its >, written with <, &lt; or a numeric entity.
_TAG = re.compile(
    r"(?:<|&lt;?|&#0*60;?|&#x0*3c;?)\s*/?\s*untrusted\b(?:[^<>]{0,200}?(?:>|&gt;?|&#0*62;?|&#x0*3e;?))?",
    re.I,
)


# Brackets and slashes NFKC keeps distinct but a reader takes for < > /.
_LOOKALIKE = {c: "<" for c in "‹〈⟨❮❬〈"} | {c: ">" for c in "›〉⟩❯❭〉"} | {c: "/" for c in "∕⁄⧸"}


def _normalised(text: str) -> tuple[str, list[int]]:
    """The text folded for tag matching, and for each folded character the index of the original
    character it came from: NFKC per character (full-width and other compatibility forms to ASCII),
    case folded, with invisible format characters (zero-width spaces, joiners, BOM, bidi marks)
    and combining marks dropped."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            out.append(ch.lower())
            where.append(i)
            continue
        category = unicodedata.category(ch)
        if category in ("Cf", "Mn", "Me") or ch in "\u115f\u1160\u3164\uffa0":
            continue
        folded = _LOOKALIKE.get(ch) or unicodedata.normalize("NFKC", ch).casefold()
        if category == "Zs" or ch in "\u2028\u2029\x85":
            folded = " "
        for c in folded:
            out.append(c)
            where.append(i)
    return "".join(out), where


def neutralise_tags(text: str) -> str:
    """Every look-alike of the fence's tags replaced by a marker that cannot close the fence."""
    folded, where = _normalised(text)
    spans = [(where[m.start()], where[m.end() - 1] + 1) for m in _TAG.finditer(folded)]
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(NEUTRALISED)
        last = end
    out.append(text[last:])
    return "".join(out)


def fence(text: str, *, label: str = "") -> str:
    """Untrusted ``text`` as data for a prompt: redacted, its tag look-alikes neutralised, fenced."""
    note = f"<!-- {neutralise_tags(redact(label))} -->\n" if label else ""
    return f"{note}{OPEN}\n{neutralise_tags(redact(text))}\n{CLOSE}"


# -- secrets ------------------------------------------------------------------------------------------
_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key",
        # Up to its END line; a block cut off (in a log) ends where the base64 body does. Backslashes
        # are body too: the block may sit in JSON or YAML with its newlines escaped.
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s,:.\\-]*?"
            r"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?=[^A-Za-z0-9+/=\s,:.\\-])|\Z)"
        ),
    ),
    ("github token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")),
    ("github token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    ("api key", re.compile(r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}")),
    ("aws key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b")),
    ("slack token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}")),
    ("slack token", re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}")),
)
# scheme://user:password@host: the password goes, the rest stays readable.
_URL_PASSWORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@'\"<>]*:)([^\s@/'\"<>]+)@")


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED <kind>]``."""
    if not text:
        return text
    for kind, pattern in _SECRETS:
        text = pattern.sub(f"[REDACTED {kind}]", text)
    return _URL_PASSWORD.sub(r"\1[REDACTED password]@", text)
