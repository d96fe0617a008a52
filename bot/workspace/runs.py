"""The bot's runs in a repository, as the filesystem and git know them: which exist, which are
finished, and cleaning up after the finished ones (their worktrees always; their branches beyond
the newest few). The reports under ``.milestone-bot/runs/`` stay: they are small, and the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.workspace.worktrees import BRANCH_PREFIX, Worktrees, slug

RUNS_DIR = Path(".milestone-bot") / "runs"
REPORT = "report.json"


@dataclass(frozen=True)
class Cleaned:
    worktrees: list[Path] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    kept_runs: list[str] = field(default_factory=list)

    def render(self) -> str:
        kept = f"; kept the branches of {', '.join(self.kept_runs)}" if self.kept_runs else ""
        return f"removed {len(self.worktrees)} worktrees and {len(self.branches)} branches{kept}"


def mark_started(repo: Path, run_id: str) -> Path:
    """The run's folder, made when it starts: a run killed before its first worktree can still be
    resumed by its id."""
    folder = repo / RUNS_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def finished_runs(repo: Path) -> list[str]:
    """Run ids with a report, oldest first (a run writes its report when it ends)."""
    folder = repo / RUNS_DIR
    if not folder.is_dir():
        return []
    reports = [p for p in folder.glob(f"*/{REPORT}") if p.is_file()]
    return [p.parent.name for p in sorted(reports, key=lambda p: (p.stat().st_mtime, p.parent.name))]


def run_exists(trees: Worktrees, run_id: str) -> bool:
    """Something to resume: its folder, its worktrees or its branches."""
    name = slug(run_id)
    return (
        (trees.repo_path / RUNS_DIR / run_id).is_dir()
        or (trees.root / name).is_dir()
        or bool(trees.branches(f"{BRANCH_PREFIX}/{name}/"))
    )


def known_runs(trees: Worktrees) -> list[str]:
    names = {p.name for p in (trees.repo_path / RUNS_DIR).glob("*") if p.is_dir()}
    names |= {b.split("/")[1] for b in trees.branches(f"{BRANCH_PREFIX}/") if b.count("/") >= 2}
    return sorted(names)


def clean(trees: Worktrees, *, keep: int, dry_run: bool = False) -> Cleaned:
    """Remove the worktrees of every finished run, and the branches of all but the ``keep`` newest.
    Unfinished runs (no report) are left alone: they may be resumed."""
    finished = finished_runs(trees.repo_path)
    kept = finished[len(finished) - keep :] if keep else []
    done = {slug(r) for r in finished}
    worktrees = [p for p in trees.leftovers() if p.relative_to(trees.root).parts[0] in done]
    branches = [b for r in finished if r not in kept for b in trees.branches(f"{BRANCH_PREFIX}/{slug(r)}/")]
    if not dry_run:
        for path in worktrees:
            trees.remove(path)
        trees.delete_branches(branches)
    return Cleaned(worktrees, branches, kept)
