"""Work finished before this run, carried into it instead of paid for again.

A checklist read back from a comment or from the PR branch names items done by an earlier job
(an earlier wave of a fan-out, or a run that was killed). That job's clone is gone, so its local
branches are too; what survives is what was pushed. An item done earlier is therefore either
already in the commit this run starts from (the PR branch carries it: nothing to merge), or on the
item ref it was pushed to when it finished (fetched, then merged like this run's own items), or
lost (it is done again, and the report says why). Nothing here ever merges a ref that is not there.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.domain import Checklist, Item, ItemStatus
from bot.workspace.worktrees import slug

ITEMS_PREFIX = "milestone-bot-items"  # not under milestone-bot/: a ref cannot be both a branch and a folder


def item_ref(key: str, item_id: str) -> str:
    """Where a finished item's commit is pushed the moment it is done, so a later job can fetch it."""
    return f"{ITEMS_PREFIX}/{slug(key)}/{slug(item_id)}"


@dataclass(frozen=True)
class Carried:
    checklist: Checklist  # items whose earlier work is lost are pending again
    in_base: frozenset[str]  # done items already in the start commit: nothing to merge
    notes: dict[str, str]


def _git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env} if env else None
    return subprocess.run(
        # Hooks off: a fetch runs reference-transaction hooks, and .git/hooks may hold planted ones.
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args],
        capture_output=True, text=True, check=False, env=full,
    )  # fmt: skip


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return _git(repo, "merge-base", "--is-ancestor", commit, of).returncode == 0


def _has_branch_at(repo: Path, branch: str, commit: str) -> bool:
    """The local branch exists and holds ``commit`` (a job's branch holds all its items' commits)."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    return found.returncode == 0 and _is_ancestor(repo, commit, f"refs/heads/{branch}")


def _fetch(repo: Path, remote: str, branch: str, env: Mapping[str, str] | None) -> bool:
    refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
    return _git(repo, "fetch", "--quiet", remote, refspec, env=env).returncode == 0


def _reachable(repo: Path, item: Item, remote: str | None, env: Mapping[str, str] | None) -> bool:
    if _has_branch_at(repo, item.branch, item.commit):
        return True
    return (
        remote is not None
        and _fetch(repo, remote, item.branch, env)
        and _has_branch_at(repo, item.branch, item.commit)
    )


def carry_over(
    repo: Path,
    checklist: Checklist,
    base: str,
    *,
    remote: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Carried:
    """``env``: extra environment for the fetches (the remote's credentials, for that command only)."""
    in_base: set[str] = set()
    notes: dict[str, str] = {}
    items: list[Item] = []
    for item in checklist.items:
        if item.status is not ItemStatus.DONE:
            items.append(item)
            continue
        if not item.commit or _is_ancestor(repo, item.commit, base):
            # No commit: a person ticked it, and their word stands; or its work is in the base.
            in_base.add(item.id)
        elif item.branch and _reachable(repo, item, remote, env):
            pass  # its branch is here (or fetched): merged with this run's items
        else:
            where = f" ({item.branch})" if item.branch else ""
            notes[item.id] = (
                f"its earlier work{where} is neither in the start commit nor on the remote: done again"
            )
            item = dataclasses.replace(item, status=ItemStatus.PENDING, branch="", commit="")
        items.append(item)
    return Carried(dataclasses.replace(checklist, items=tuple(items)), frozenset(in_base), notes)


def without_merges(checklist: Checklist, in_base: frozenset[str]) -> Checklist:
    """The checklist as integration should see it: items already in the base have no branch to merge."""
    return dataclasses.replace(
        checklist,
        items=tuple(dataclasses.replace(i, branch="") if i.id in in_base else i for i in checklist.items),
    )


def restore(checklist: Checklist, original: Checklist, in_base: frozenset[str]) -> Checklist:
    """Put back the branch and commit of the items ``without_merges`` hid."""
    before = {i.id: i for i in original.items}
    return dataclasses.replace(
        checklist,
        items=tuple(
            dataclasses.replace(i, branch=before[i.id].branch, commit=before[i.id].commit)
            if i.id in in_base and i.id in before
            else i
            for i in checklist.items
        ),
    )
