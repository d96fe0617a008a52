"""Project guidance: the repository's own instructions for contributors and agents.

Most specific first: files mapped to this task kind in config, then the kind's file in the guidance
folder, then AGENTS.md, CLAUDE.md and CONTRIBUTING.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.context.pack import Section, fit_text

GENERAL = ("AGENTS.md", "CLAUDE.md", "CONTRIBUTING.md", ".github/CONTRIBUTING.md")


def guidance_sections(
    root: Path, *, kind: str, folder: str, kinds: Mapping[str, Sequence[str]], budget: int
) -> list[Section]:
    candidates: list[str] = [*kinds.get(kind, ())]
    if kind:
        candidates.append(f"{folder.rstrip('/')}/{kind}.md")
    candidates += GENERAL
    sections: list[Section] = []
    used = 0
    seen: set[Path] = set()
    for rel in candidates:
        path = (root / rel).resolve()
        if path in seen or not path.is_file() or root.resolve() not in path.parents:
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if not text or used >= budget:
            continue
        text = fit_text(text, budget - used)
        used += len(text.encode("utf-8"))
        sections.append(Section(f"Project guidance: {rel}", text))
    return sections
