"""The script format shared by the scripted provider and the fake HTTP servers.

A script is an ordered list of rules; a request is answered by the first rule whose ``match`` fits
it and which has uses left. Format and examples: docs/scripted-provider.md.
"""

from __future__ import annotations

import fnmatch
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import ScriptError
from bot.models.base import Usage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    model: str | None = None  # a glob: "gpt-*"
    purpose: str | None = None
    item: str | None = None
    prompt_contains: str | None = None


class RuleUsage(_Strict):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)


class InjectedError(_Strict):
    status: int = Field(ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    message: str = "injected error"


# drip: the body one byte at a time (``drip_s`` apart); no_usage: no token counts in the body;
# over_report: ten times the token counts, past max_tokens (a provider misreporting usage).
Fault = Literal["timeout", "truncated", "malformed", "disconnect", "drip", "no_usage", "over_report"]


class Rule(_Strict):
    match: Match = Field(default_factory=Match)
    reply: str = ""
    usage: RuleUsage | None = None
    delay_s: float = Field(default=0.0, ge=0)
    error: InjectedError | None = None
    fault: Fault | None = None
    times: int | None = Field(default=None, ge=1)  # how often the rule may answer; None: always


class Script(_Strict):
    rules: list[Rule]


@dataclass(frozen=True)
class Query:
    """What a rule is matched against."""

    model: str
    purpose: str
    item: str
    prompt: str

    def describe(self) -> str:
        head = self.prompt[:80].replace("\n", " ")
        return f"model={self.model!r} purpose={self.purpose!r} item={self.item!r} prompt starts {head!r}"


def load_script(path: Path) -> Script:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read script {path}: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScriptError(f"script {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScriptError(f"script {path}: {where}: {first['msg']}") from exc


def estimate_tokens(text: str) -> int:
    """Roughly four bytes a token, the usual ratio for English and code."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def rule_usage(rule: Rule, query: Query, *, max_tokens: int) -> Usage:
    if rule.usage is not None:
        u = rule.usage
        # Like a real API, never report more output than the request allowed.
        return Usage(
            u.input_tokens, min(u.output_tokens, max_tokens), u.cache_read_tokens, u.cache_write_tokens
        )
    return Usage(estimate_tokens(query.prompt), min(max_tokens, estimate_tokens(rule.reply)))


class Matcher:
    """Finds the rule for a query; thread-safe, since the fake servers answer on many threads.

    Rules naming an item are indexed by it, so a script with thousands of per-item rules (the
    replay benchmark's) still answers in constant time.
    """

    def __init__(self, script: Script) -> None:
        self._rules = script.rules
        self._by_item: dict[str | None, list[int]] = {}
        for index, rule in enumerate(script.rules):
            self._by_item.setdefault(rule.match.item, []).append(index)
        self._used = [0] * len(script.rules)
        self._lock = threading.Lock()

    def find(self, query: Query) -> Rule:
        candidates = sorted(self._by_item.get(query.item, []) + self._by_item.get(None, []))
        with self._lock:
            for index in candidates:
                rule = self._rules[index]
                if rule.times is not None and self._used[index] >= rule.times:
                    continue
                if self._fits(rule.match, query):
                    self._used[index] += 1
                    return rule
        raise ScriptError(f"no script rule matches the request: {query.describe()}")

    @staticmethod
    def _fits(match: Match, query: Query) -> bool:
        return (
            (match.model is None or fnmatch.fnmatchcase(query.model, match.model))
            and (match.purpose is None or match.purpose == query.purpose)
            and (match.item is None or match.item == query.item)
            and (match.prompt_contains is None or match.prompt_contains in query.prompt)
        )
