"""Frozen value types shared across the bot's layers.

They carry no behaviour beyond small derived properties, so every layer can pass them around and
tests can build them directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Purpose(enum.StrEnum):
    """Why a model is called; routing, scripts and the ledger all key on it."""

    PLAN = "plan"
    TEST = "test"
    CHANGE = "change"
    REVIEW = "review"
    TRIAGE = "triage"


class TaskSize(enum.StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Verdict(enum.StrEnum):
    """What validation said of an attempt; ``NONE`` before the first attempt."""

    NONE = "none"
    PASSED = "passed"
    FAILED = "failed"  # the change was applied and validation rejected it
    UNPARSABLE = "unparsable"  # the model's answer could not be applied at all
    ERROR = "error"  # no answer: every provider of the tier failed


@dataclass(frozen=True)
class CallScope:
    """Where a model call belongs: the ledger rows and budget limits are keyed on these fields."""

    run_id: str
    purpose: Purpose
    item_id: str = ""
    attempt: int = 0
    kind: str = ""  # task kind (feature, bugfix, ...), used by routing history
    repo: str = ""
