"""The folder the fan-out's event job hands to its plan, work and publish jobs (an artifact):
``checklist.md``, ``request.json`` (the command and its options, the run's id and budget) and
``spend.jsonl`` (today's spend from the state branch). Only the names and the options the work
jobs read live here; the event job (``bot.events.work``) writes the folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REQUEST_FILE = "request.json"
CHECKLIST_FILE = "checklist.md"
SPEND_LINES = "spend.jsonl"


@dataclass(frozen=True)
class RunOptions:
    """What a ``/bot run`` asked for that a work job applies itself."""

    tier: str | None = None
    parallel: int | None = None


def read_options(folder: Path) -> RunOptions:
    path = folder / REQUEST_FILE
    if not path.exists():
        return RunOptions()
    raw = json.loads(path.read_text(encoding="utf-8"))
    parallel = raw.get("parallel")
    tier = raw.get("tier")
    return RunOptions(str(tier) if tier else None, int(parallel) if parallel else None)
