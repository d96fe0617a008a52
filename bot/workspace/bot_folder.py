"""The bot's own folder in a repository (``.milestone-bot/``: worktrees with whole copies of the
project's tests, runs, the ledger) must never break the project's own tools.

Markers the tools already honour, written inside the folder, so nothing of the project changes and no
conftest is needed:
- ``.gitignore`` with ``*``: git, ruff and most linters skip what git ignores;
- ``pyvenv.cfg``: pytest never collects inside a virtual environment's folder, even when the project
  sets its own ``norecursedirs`` (which replaces the default that skips dot-folders);
- ``CACHEDIR.TAG``: backup and search tools skip cache folders.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = ".milestone-bot"

_MARKERS = {
    ".gitignore": "# milestone-bot's work folder: worktrees, runs, ledger. Never part of the project.\n*\n",
    "pyvenv.cfg": (
        "# Not a virtual environment: milestone-bot's work folder. This file is here so that pytest\n"
        "# (which skips virtual environments) never collects the copies of your tests in it.\n"
    ),
    "CACHEDIR.TAG": (
        "Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file marks milestone-bot's work folder; see https://bford.info/cachedir/\n"
    ),
}


def protect(repo_root: Path) -> Path:
    """Create ``.milestone-bot/`` with its markers (idempotent); returns the folder."""
    folder = repo_root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in _MARKERS.items():
        path = folder / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    return folder
