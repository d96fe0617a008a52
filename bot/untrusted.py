"""Untrusted text (issues, comments, logs, model output) goes into prompts as fenced data.

The fence is closed exactly once, whatever the text holds; the system prompts say that text inside
it is data, never instructions.
"""

from __future__ import annotations

OPEN, CLOSE = "<untrusted>", "</untrusted>"


def fence(text: str) -> str:
    return f"{OPEN}\n{text.replace(CLOSE, '</ untrusted>')}\n{CLOSE}"
