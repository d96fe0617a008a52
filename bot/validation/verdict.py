"""The verdict of a validation run: a value listing every stage, its time and its diagnostics."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from bot.validation.guard import Finding
from bot.validation.parsers import Diagnostic

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class StageResult:
    name: str  # syntax, build, new_tests, affected_tests, full_suite, lint, typecheck, red_proof
    status: Status
    duration_s: float = 0.0
    diagnostics: tuple[Diagnostic, ...] = ()
    command: tuple[str, ...] = ()
    note: str = ""  # why skipped, or what was learned (flaky tests, pre-existing failures)


@dataclass(frozen=True)
class ValidationVerdict:
    stages: tuple[StageResult, ...]
    findings: tuple[Finding, ...] = ()
    flaky: tuple[str, ...] = ()  # tests that failed and passed on a rerun: reported, not counted
    preexisting: tuple[str, ...] = ()  # tests that fail on the base too: not the change's fault
    edit_problems: tuple[str, ...] = field(default=())
    environment: str = ""  # which interpreter validation ran and why

    @property
    def accepted(self) -> bool:
        return (
            not self.findings
            and not self.edit_problems
            and all(s.status != "failed" for s in self.stages)
            and any(s.status == "passed" for s in self.stages)
        )

    def feedback(self, *, limit: int = 30) -> str:
        """What goes back to the model: guard findings and diagnostics, not raw logs."""
        lines = [f"edit: {p}" for p in self.edit_problems]
        lines += [f"rejected: {f.render()}" for f in self.findings]
        for stage in self.stages:
            if stage.status == "failed":
                lines.append(f"stage {stage.name} failed{': ' + stage.note if stage.note else ''}")
                lines += [f"  {d.render()}" for d in stage.diagnostics[:limit]]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"accepted": self.accepted, **asdict(self)}, indent=2)

    def render(self) -> str:
        mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}
        out = [f"verdict: {'accepted' if self.accepted else 'rejected'}"]
        if self.environment:
            out.append(f"  environment: {self.environment}")
        for s in self.stages:
            note = f" — {s.note}" if s.note else ""
            out.append(f"  {mark[s.status]} {s.name:<15} {s.duration_s:6.2f}s{note}")
            out += [f"       {d.render()}" for d in s.diagnostics[:20]]
        out += [f"  guard: {f.render()}" for f in self.findings]
        out += [f"  edit: {p}" for p in self.edit_problems]
        if self.flaky:
            out.append(f"  flaky (not counted): {', '.join(self.flaky)}")
        if self.preexisting:
            out.append(f"  failing on the base too (not counted): {', '.join(self.preexisting)}")
        return "\n".join(out)
