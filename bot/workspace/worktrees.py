"""Git worktrees: one per checklist item, on its own branch; the only module that imports GitPython.

Worktrees live under ``.milestone-bot/worktrees/<run>/<item>`` (excluded from git in the main
checkout). A crash leaves them behind: ``create`` resumes one that exists (its commits are the
committed work of the crashed run), and ``cleanup`` removes those of runs that are over.

The bot's own git never runs repository code: every command gets hooks and fsmonitor switched off
(``hardened``), commits are made with plumbing (no hooks, no shared ``COMMIT_EDITMSG``, the message
given to that one command), and the push token is handed to the push command alone, in its
environment, never written to ``.git/config``.
"""

from __future__ import annotations

import base64
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from bot.errors import WorkspaceError
from bot.workspace.bot_folder import protect

BRANCH_PREFIX = "milestone-bot"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
BOT_AUTHOR = ("milestone-bot", "milestone-bot@users.noreply.github.com")

# Config every git command of the bot runs with, whatever the repository's config or a planted
# hook says: repository code (hooks, fsmonitor commands) must never run with the bot's secrets.
HARDENING = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("credential.helper", ""),
    ("protocol.ext.allow", "never"),
)
_AUTHOR_ENV = {
    "GIT_AUTHOR_NAME": BOT_AUTHOR[0],
    "GIT_AUTHOR_EMAIL": BOT_AUTHOR[1],
    "GIT_COMMITTER_NAME": BOT_AUTHOR[0],
    "GIT_COMMITTER_EMAIL": BOT_AUTHOR[1],
}


def config_env(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """``git -c`` for every command of a process, through git's own environment protocol."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), "GIT_TERMINAL_PROMPT": "0"}
    for n, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    return env


def hardened(path: Path | str) -> git.Repo:
    """A repository handle whose every git command runs without hooks or fsmonitor."""
    repo = git.Repo(path)
    repo.git.update_environment(**config_env(HARDENING))
    return repo


def push_env(url: str, token: str) -> dict[str, str]:
    """The environment of one push: the token as an auth header for that remote's host only."""
    host = re.match(r"(https?://[^/]+/)", _strip_userinfo(url))
    prefix = host.group(1) if host else "https://github.com/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return config_env((*HARDENING, (f"http.{prefix}.extraheader", f"AUTHORIZATION: basic {basic}")))


def _strip_userinfo(url: str) -> str:
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)


def slug(text: str) -> str:
    cleaned = _UNSAFE.sub("-", text).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned).removesuffix(".lock")
    if not cleaned:
        raise WorkspaceError(f"{text!r} has no characters usable in a branch name")
    return cleaned[:60]


def branch_name(run_id: str, item_id: str) -> str:
    """``milestone-bot/<run>/<item>``: predictable, and unique per run and item."""
    return f"{BRANCH_PREFIX}/{slug(run_id)}/{slug(item_id)}"


@dataclass(frozen=True)
class Workspace:
    path: Path
    branch: str
    base: str  # the commit the branch started from
    resumed: bool = False


class Worktrees:
    def __init__(self, repo: Path, *, root: Path | None = None) -> None:
        try:
            self._repo = hardened(repo)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise WorkspaceError(f"{repo} is not a git repository") from exc
        self.repo_path = Path(self._repo.working_tree_dir or repo).resolve()
        self.root = (root or self.repo_path / ".milestone-bot" / "worktrees").resolve()
        protect(self.repo_path)  # the project's pytest and linters must never walk into it
        # Items call in from worker threads. Everything here runs git as a subprocess (thread safe)
        # except changes to the list of worktrees, which read it, decide, and change it: one at a time.
        self._layout = threading.RLock()
        # Never part of a change the bot commits, even in a repository whose .gitignore forgets them.
        for pattern in (
            ".milestone-bot/",
            "__pycache__/",
            "*.py[co]",
            ".pytest_cache/",
            ".mypy_cache/",
            ".ruff_cache/",
        ):
            self._exclude(pattern)

    def _exclude(self, pattern: str) -> None:
        exclude = Path(self._repo.common_dir) / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if pattern not in lines:
            exclude.write_text("\n".join([*lines, pattern]) + "\n")

    def resolve(self, ref: str) -> str:
        # rev-parse in a subprocess, not GitPython's object database: that keeps one long-lived
        # `git cat-file` process per Repo, which threads must not share.
        try:
            return str(self._repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        except git.GitCommandError as exc:
            raise WorkspaceError(f"unknown git ref {ref!r}") from exc

    def _registered(self) -> dict[Path, str]:
        """Worktree path -> branch ('' when detached), from git's own list."""
        out: dict[Path, str] = {}
        current: Path | None = None
        for line in self._repo.git.worktree("list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree ") :]).resolve()
                out[current] = ""
            elif line.startswith("branch ") and current is not None:
                out[current] = line[len("branch refs/heads/") :]
        return out

    def create(self, run_id: str, item_id: str, base_ref: str, *, resume: bool = True) -> Workspace:
        with self._layout:
            return self._create(run_id, item_id, base_ref, resume=resume)

    def _create(self, run_id: str, item_id: str, base_ref: str, *, resume: bool) -> Workspace:
        branch = branch_name(run_id, item_id)
        path = self.root / slug(run_id) / slug(item_id)
        base = self.resolve(base_ref)
        registered = self._registered()
        branch_exists = bool(self._repo.git.branch("--list", branch).strip())
        try:
            if path in registered and registered[path] == branch and resume:
                return Workspace(path, branch, self._merge_base(base, branch), resumed=True)
            if path in registered or path.exists():
                self._drop(path)
            if branch_exists and resume:
                self._repo.git.worktree("add", str(path), branch)
                return Workspace(path, branch, self._merge_base(base, branch), resumed=True)
            if branch_exists:
                self._repo.git.branch("-D", branch)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._repo.git.worktree("add", "-b", branch, str(path), base)
        except git.GitCommandError as exc:
            raise WorkspaceError(f"cannot create worktree for {branch}: {exc.stderr.strip() or exc}") from exc
        return Workspace(path, branch, base)

    def _merge_base(self, a: str, b: str) -> str:
        return str(self._repo.git.merge_base(a, b)).strip()

    def detached(self, name: str, ref: str) -> Path:
        """A throwaway worktree at ``ref`` (for running new tests against the base)."""
        path = self.root / "_base" / slug(name)
        with self._layout:
            if path.exists() or path in self._registered():
                self._drop(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._repo.git.worktree("add", "--detach", str(path), self.resolve(ref))
            except git.GitCommandError as exc:
                raise WorkspaceError(f"cannot check out {ref}: {exc.stderr.strip() or exc}") from exc
        return path

    def _drop(self, path: Path) -> None:
        with self._layout:
            try:
                self._repo.git.worktree("remove", "--force", str(path))
            except git.GitCommandError:
                shutil.rmtree(path, ignore_errors=True)
            self._repo.git.worktree("prune")

    def remove(self, workspace: Workspace | Path, *, delete_branch: bool = False) -> None:
        path = workspace.path if isinstance(workspace, Workspace) else workspace
        self._drop(path)
        if delete_branch and isinstance(workspace, Workspace):
            try:
                self._repo.git.branch("-D", workspace.branch)
            except git.GitCommandError as exc:
                raise WorkspaceError(
                    f"cannot delete branch {workspace.branch}: {exc.stderr.strip()}"
                ) from exc

    def leftovers(self) -> list[Path]:
        """Worktrees under the bot's folder, as git knows them (a crash leaves these)."""
        return sorted(p for p in self._registered() if self.root in p.parents)

    def cleanup(self, *, keep_runs: set[str] = frozenset()) -> list[Path]:  # type: ignore[assignment]
        """Remove worktrees of runs not in ``keep_runs``; branches (committed work) are kept."""
        keep = {slug(r) for r in keep_runs}
        removed = []
        with self._layout:
            for path in self.leftovers():
                run = path.relative_to(self.root).parts[0]
                if run not in keep:
                    self._drop(path)
                    removed.append(path)
            self._repo.git.worktree("prune")
        return removed

    def branches(self, prefix: str) -> list[str]:
        """Local branches whose names start with ``prefix`` (``milestone-bot/<run>/``)."""
        out = self._repo.git.for_each_ref("--format=%(refname:short)", f"refs/heads/{prefix}")
        return sorted(b for b in str(out).splitlines() if b.startswith(prefix))

    def delete_branches(self, names: list[str]) -> None:
        if not names:
            return
        try:
            self._repo.git.branch("-D", *names)
        except git.GitCommandError as exc:
            raise WorkspaceError(f"cannot delete branches: {exc.stderr.strip() or exc}") from exc

    def dirty(self) -> list[str]:
        """The main checkout's uncommitted changes (``git status --porcelain`` lines), the bot's own
        folder excluded."""
        out = str(self._repo.git.status("--porcelain", "--untracked-files=all"))
        return [line for line in out.splitlines() if line.strip() and ".milestone-bot/" not in line]

    # -- changes in a worktree ----------------------------------------------------------------------
    def changed_files(self, path: Path, base: str) -> list[str]:
        """Paths changed in the worktree against ``base``: committed, staged, unstaged and new."""
        tree = hardened(path)
        # NUL-separated: git quotes non-ASCII names otherwise, and a quoted name matches nothing.
        names = set(tree.git.diff("--name-only", "-z", base).split("\0"))
        names |= set(tree.git.ls_files("-z", "--others", "--exclude-standard").split("\0"))
        return sorted(n for n in names if n)

    def diff(self, path: Path, base: str) -> str:
        tree = hardened(path)
        tree.git.add("--intent-to-add", "--all")  # so new files show in the diff
        return str(tree.git.diff(base, "--no-color", "--no-ext-diff"))

    def read_at(self, ref: str, rel: str) -> str | None:
        """A file's text at ``ref``; None when it did not exist there or is not UTF-8 text."""
        try:
            data = self._repo.git.show(f"{ref}:{rel}", stdout_as_string=False)
        except git.GitCommandError:
            return None
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def before_after(self, path: Path, base: str) -> dict[str, tuple[str | None, str | None]]:
        """Each file changed in the checkout against ``base``: its text there and here (None: absent)."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for rel in self.changed_files(path, base):
            here = path / rel
            after = here.read_text(encoding="utf-8", errors="replace") if here.is_file() else None
            out[rel] = (self.read_at(base, rel), after)
        return out

    def files(self, path: Path) -> list[str]:
        """Tracked and untracked (not ignored) files of a checkout."""
        tree = hardened(path)
        listed = tree.git.ls_files("-z", "--cached", "--others", "--exclude-standard").split("\0")
        return sorted(set(listed) - {""})

    def blob_ids(self, path: Path) -> dict[str, str]:
        """Tracked file -> git blob id of its current content (modified files are re-hashed), so
        caches keyed on blob ids stay right for a dirty working tree."""
        tree = hardened(path)
        blobs: dict[str, str] = {}
        for line in tree.git.ls_files("-s").splitlines():
            meta, _, rel = line.partition("\t")
            blobs[rel] = meta.split()[1]
        modified = [m for m in tree.git.ls_files("-m").splitlines() if (path / m).is_file()]
        if modified:
            hashes = tree.git.hash_object("--", *modified).splitlines()
            blobs.update(zip(modified, hashes, strict=True))
        for rel in tree.untracked_files:
            blobs[rel] = tree.git.hash_object("--", rel)
        return {rel: blob for rel, blob in blobs.items() if (path / rel).is_file()}

    def recently_changed(self, path: Path, *, commits: int = 20) -> list[str]:
        """Files touched by the last ``commits`` commits, newest first."""
        tree = hardened(path)
        try:
            out = tree.git.log(f"-{commits}", "--name-only", "--pretty=format:")
        except git.GitCommandError:
            return []
        return list(dict.fromkeys(x for x in out.splitlines() if x))

    def merge(self, path: Path, branch: str, message: str) -> list[str]:
        """Merge ``branch`` into the checkout at ``path``; on a conflict abort and return the files."""
        tree = hardened(path)
        actor = f"{BOT_AUTHOR[0]} <{BOT_AUTHOR[1]}>"
        try:
            tree.git.merge(
                "--no-ff",
                "-m",
                message,
                branch,
                env=_AUTHOR_ENV,
            )
        except git.GitCommandError:
            conflicts = tree.git.diff("--name-only", "--diff-filter=U").splitlines()
            tree.git.merge("--abort")
            return conflicts or [f"merge of {branch} failed ({actor})"]
        return []

    def push(self, commit: str, branch: str, *, remote: str = "origin", token: str | None = None) -> None:
        """Publish ``commit`` as ``branch`` on ``remote``, forced: the bot's branches are its own,
        and a re-run replaces what the last run published.

        ``token``: the write credential, given to this one command in its environment (never
        stored in ``.git/config`` or a credential helper, where model-written code could read it).
        Call it only after validation has finished."""
        env: Mapping[str, str] = {}
        if token:
            try:
                url = str(self._repo.git.remote("get-url", remote)).strip()
            except git.GitCommandError as exc:
                raise WorkspaceError(f"no remote {remote!r}: {exc.stderr.strip() or exc}") from exc
            env = push_env(url, token)
        try:
            self._repo.git.push(remote, f"{commit}:refs/heads/{branch}", "--force", env=dict(env))
        except git.GitCommandError as exc:
            message = str(exc.stderr.strip() or exc)
            if token:
                message = message.replace(token, "***")
            raise WorkspaceError(f"cannot push {branch} to {remote}: {message}") from None

    # -- follow-up commits on a published branch ---------------------------------------------------
    def squash(self, path: Path, ref: str, message: str) -> str | None:
        """Bring ``ref``'s changes into the checkout as one commit; None on a conflict (the
        checkout is left clean)."""
        tree = hardened(path)
        try:
            tree.git.merge("--squash", ref)
        except git.GitCommandError:
            self.reset(path)
            return None
        return self.commit(path, message)

    def cherry_pick(self, path: Path, commit: str) -> str | None:
        """Replay one commit on the checkout (its author kept); None on a conflict."""
        tree = hardened(path)
        try:
            tree.git.cherry_pick(
                "--allow-empty", commit,
                env={"GIT_COMMITTER_NAME": BOT_AUTHOR[0], "GIT_COMMITTER_EMAIL": BOT_AUTHOR[1]},
            )  # fmt: skip
        except git.GitCommandError:
            tree.git.cherry_pick("--abort")
            return None
        return str(tree.head.commit.hexsha)

    def same_tree(self, a: str, b: str) -> bool:
        return str(self._repo.git.rev_parse(f"{a}^{{tree}}")) == str(
            self._repo.git.rev_parse(f"{b}^{{tree}}")
        )

    def bundle(self, dest: Path, branch: str, *, exclude: str) -> bool:
        """Write ``branch``'s commits not in ``exclude`` to a git bundle; False when there are none."""
        if str(self._repo.git.rev_list("--count", branch, f"^{exclude}")).strip() == "0":
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._repo.git.bundle("create", str(dest), branch, f"^{exclude}")
        except git.GitCommandError as exc:
            raise WorkspaceError(f"cannot bundle {branch}: {exc.stderr.strip() or exc}") from exc
        return True

    def fetch_bundle(self, bundle: Path, branch: str, into: str) -> str:
        """Fetch ``branch`` from a bundle into the local branch ``into``; returns its commit."""
        try:
            self._repo.git.bundle("verify", str(bundle))
            self._repo.git.fetch(str(bundle), f"+refs/heads/{branch}:refs/heads/{into}")
        except git.GitCommandError as exc:
            raise WorkspaceError(f"cannot read {bundle}: {exc.stderr.strip() or exc}") from exc
        return self.resolve(into)

    def head(self, path: Path) -> str:
        return str(hardened(path).git.rev_parse("HEAD")).strip()

    def reset(self, path: Path) -> None:
        """Throw away uncommitted changes: the next attempt starts from the branch's last commit."""
        tree = hardened(path)
        tree.git.reset("--hard", "--quiet")
        tree.git.clean("-fdq")

    def commit(self, path: Path, message: str) -> str:
        return commit_all(hardened(path), message)


def commit_all(tree: git.Repo, message: str) -> str:
    """Commit everything in the checkout with plumbing: no hook runs, and the message goes to this
    command alone (porcelain and GitPython write a ``COMMIT_EDITMSG`` parallel items would share)."""
    tree.git.add("--all")
    head = str(tree.git.rev_parse("--verify", "--quiet", "HEAD", with_exceptions=False)).strip()
    written = str(tree.git.write_tree()).strip()
    if head and written == str(tree.git.rev_parse(f"{head}^{{tree}}")).strip():
        return head
    parents = ("-p", head) if head else ()
    new = str(tree.git.commit_tree(written, *parents, "-m", message, env=_AUTHOR_ENV)).strip()
    tree.git.update_ref(
        "-m", f"commit: {message.splitlines()[0] if message else ''}", "HEAD", new, *((head,) if head else ())
    )
    return new


def init_repository(path: Path, message: str) -> str:
    """A new repository holding what is at ``path``, committed on ``main`` (the demo's sample)."""
    git.Repo.init(path, initial_branch="main")
    return commit_all(hardened(path), message)
