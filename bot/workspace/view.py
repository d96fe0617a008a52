"""What a sandboxed command sees of the file system: which folders are hidden (home folders, the
runner's files, the main checkout, other worktrees), which are shown read-only although under a
hidden one (the interpreters and toolchains the command needs), and the repository's git config
without its credentials. Pure path logic; ``bot/workspace/sandbox.py`` turns it into mounts.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# Folders that hold other users' and the runner's state: sockets (ssh-agent, docker), credential
# files (~/.git-credentials, ~/.netrc, ~/.ssh), the runner's own files and its command files.
DEFAULT_HIDDEN = ("/home", "/root", "/run", "/var/run", "/var/tmp", "/var/lib/docker", "/mnt", "/media")  # noqa: S108
RUNNER_FILE_VARS = (
    "GITHUB_ENV",
    "GITHUB_OUTPUT",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_EVENT_PATH",
)
RUNNER_DIR_VARS = ("RUNNER_TEMP", "HOME", "XDG_RUNTIME_DIR", "RUNNER_WORKSPACE")


def git_dirs(root: Path) -> tuple[Path | None, Path | None]:
    """(this checkout's git dir, the repository's common git dir) of a worktree or a checkout."""
    dot = root / ".git"
    if dot.is_dir():
        return dot, dot
    if not dot.is_file():
        return None, None
    match = re.match(r"gitdir:\s*(.+)", dot.read_text(encoding="utf-8", errors="replace").strip())
    if not match:
        return None, None
    gitdir = (root / match.group(1).strip()).resolve()
    common_file = gitdir / "commondir"
    common = (gitdir / common_file.read_text().strip()).resolve() if common_file.is_file() else gitdir
    return gitdir, common


def other_worktrees(common: Path, mine: Path) -> list[Path]:
    out = []
    for gitdir_file in (common / "worktrees").glob("*/gitdir"):
        with contextlib.suppress(OSError):
            path = Path(gitdir_file.read_text().strip()).parent.resolve()
            if path != mine:
                out.append(path)
    return out


_SECRET_KEY = re.compile(r"^\s*(extraheader|password|token|helper|sshcommand|askpass)\s*=", re.IGNORECASE)
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def sanitize_git_config(text: str) -> str:
    """A git config without credentials: no credential sections, no auth headers, no user:token@ in
    URLs (the publish step or actions/checkout may have put one there)."""
    out = []
    skipping = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped.lower().startswith("[credential")
        if skipping or _SECRET_KEY.match(stripped):
            continue
        out.append(_USERINFO.sub(r"\1", line))
    return "\n".join(out) + "\n"


def _is_dir(path: Path) -> bool:
    """Like ``Path.is_dir``, but a folder this user may not look into is simply not there."""
    try:
        return path.is_dir()
    except OSError:
        return False


def under(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def existing(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        with contextlib.suppress(OSError):
            real = p.resolve()
            if real.exists() and real not in out:
                out.append(real)
    return out


def program(argv: Sequence[str]) -> str:
    """The program a command line runs: past ``env``, its options and ``NAME=value`` words
    (``env PYTHONPATH=src /project/.venv/bin/python -m pytest`` runs that venv's python)."""
    words = list(argv)
    while words and Path(words[0]).name == "env":
        words = words[1:]
        while words and (words[0].startswith("-") or ("=" in words[0] and not words[0].startswith("/"))):
            # ``-u NAME`` and ``-C DIR`` take the next word as their argument.
            words = words[2:] if words[0] in ("-u", "--unset", "-C", "--chdir") else words[1:]
    return words[0] if words else argv[0]


def interpreter_dirs(argv: Sequence[str], env: Mapping[str, str]) -> list[Path]:
    """The bot's interpreter and the command's: for ``/project/.venv/bin/python`` (or ``python``
    on a PATH the caller gave, or the ``VIRTUAL_ENV`` it names) that venv, read-only."""
    dirs = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    for argv0 in dict.fromkeys((argv[0], program(argv))):
        exe = shutil.which(argv0, path=env.get("PATH")) if os.sep not in argv0 else argv0
        for found in (exe, shutil.which(argv0) if os.sep not in argv0 else None):
            if found:
                folder = Path(found).absolute().parent
                dirs.append(folder.parent if folder.name in ("bin", "Scripts") else folder)
    if env.get("VIRTUAL_ENV"):
        dirs.append(Path(env["VIRTUAL_ENV"]))
    for entry in env.get("PATH", "").split(os.pathsep):
        if entry and Path(entry).is_absolute():
            # A bin folder's parent holds what its programs load (a venv's lib, a node's modules);
            # the entry itself stays for when the parent may not be shown.
            dirs += [Path(entry), Path(entry).parent] if Path(entry).name == "bin" else [Path(entry)]
    return dirs


# Toolchains installed in a home folder (rustup, pyenv, go, nvm, uv), shown read-only, with the
# variable that tells them where they are now that HOME is the sandbox's.
TOOL_HOMES = {
    ".cargo": "CARGO_HOME",
    ".rustup": "RUSTUP_HOME",
    ".pyenv": "PYENV_ROOT",
    "go": "GOPATH",
    ".nvm": "NVM_DIR",
    ".local/share/uv": "",
}
# Credentials that live inside those toolchain folders.
TOOL_SECRETS = (".cargo/credentials", ".cargo/credentials.toml")


def toolchains(host_env: Mapping[str, str]) -> tuple[list[Path], dict[str, str], list[Path]]:
    """(folders to show, variables to set, secret files to hide) for toolchains on PATH or in HOME."""
    home = Path(host_env.get("HOME", "/nonexistent"))
    shown: list[Path] = []
    env: dict[str, str] = {}
    for rel, var in TOOL_HOMES.items():
        folder = Path(host_env.get(var, "")) if var and host_env.get(var) else home / rel
        if _is_dir(folder):
            shown.append(folder)
            if var:
                env[var] = str(folder)
    for entry in host_env.get("PATH", "").split(os.pathsep):
        if entry and Path(entry).is_absolute() and _is_dir(Path(entry)):
            shown.append(Path(entry).parent if Path(entry).name == "bin" else Path(entry))
    secrets = [home / s for s in TOOL_SECRETS]
    secrets += [
        Path(env[v]) / n for v in ("CARGO_HOME",) if v in env for n in ("credentials", "credentials.toml")
    ]
    return shown, env, secrets


def hidden_paths(root: Path, extra: Iterable[Path], env: Mapping[str, str]) -> tuple[list[Path], Path | None]:
    """(folders and files to hide, the main checkout's git dir to show read-only)."""
    hide = [Path(p) for p in DEFAULT_HIDDEN]
    hide += [Path(env[v]).parent for v in RUNNER_FILE_VARS if env.get(v)]
    hide += [Path(env[v]) for v in RUNNER_DIR_VARS if env.get(v)]
    _, common = git_dirs(root)
    if common is not None:
        main = common.parent
        if main != root:
            hide.append(main)  # the main checkout: its config, ledger, the bot's own files
        hide += other_worktrees(common, root)
    hide.append(root / ".milestone-bot")
    hide += list(extra)
    return existing(hide), common
