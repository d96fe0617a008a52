"""The sandbox around every command that runs repository code (tests, builds, linters, red proofs).

Model-written code is hostile, so a command sees: an allow-listed environment (never a deny list),
no other process (its own PID namespace), no network but loopback (its own network namespace,
unless the config asks for it), a file system that is read-only except its worktree, the paths the
caller names writable and a private ``/tmp`` — with the home folders, ``/run``, the runner's
command files, the main checkout, other worktrees, the ledger and the config hidden, and the git
config it can read stripped of credentials. When the command ends or times out, its whole PID
namespace ends with it: daemons, ``setsid`` sessions and double forks included.

How: bubblewrap (``bwrap``, Debian/Ubuntu package ``bubblewrap``). As an ordinary user it builds a
user namespace (on Ubuntu 24.04 this needs ``kernel.apparmor_restrict_unprivileged_userns=0``,
see the README). As root (CI containers) a user namespace would map the command to real root, who
owns every root file, so there bwrap runs without one and ``setpriv`` drops the command to an
unprivileged uid with no capabilities; the writable paths are opened to that uid with POSIX ACLs.
If the host cannot isolate, ``probe`` says why and the runner refuses unless the config accepts
running unsandboxed.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.config import SandboxSettings
from bot.errors import SandboxUnavailable
from bot.workspace.acl import grant_write
from bot.workspace.view import (
    existing,
    hidden_paths,
    interpreter_dirs,
    sanitize_git_config,
    toolchains,
    under,
)

Isolation = Literal["required", "best-effort", "off"]
Backend = Literal["bwrap-setpriv", "bwrap-userns", "none"]

NOBODY = 65534

# The environment a command gets: names (globs) that carry no secret and that builds need.
# Anything else must be named in the config's ``pass_env``; secrets are scrubbed even then.
ENV_ALLOW = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "TZ",
    "CI",
    "NO_COLOR",
    "FORCE_COLOR",
    "COLUMNS",
    "SOURCE_DATE_EPOCH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONHASHSEED",
    "VIRTUAL_ENV",
    "JAVA_HOME",
    "GOROOT",
    "GOPATH",
    "GOFLAGS",
    "CARGO_HOME",
    "RUSTUP_HOME",
)


@dataclass(frozen=True)
class SandboxPolicy:
    """What a command may see and do; the defaults are the safe ones."""

    isolation: Isolation = "required"
    network: bool = False  # loopback only unless True
    pass_env: tuple[str, ...] = ()  # more environment names (globs) the command may see
    hidden: tuple[Path, ...] = ()  # files or folders it may not read (the ledger, the config)
    readable: tuple[Path, ...] = ()  # folders to show read-only although under a hidden one
    uid: int = NOBODY  # the uid commands run as when the bot is root
    gid: int = NOBODY


def policy_from(settings: SandboxSettings, *, hidden: Iterable[Path] = ()) -> SandboxPolicy:
    """The policy the config asks for, hiding ``hidden`` (the ledger, the config) besides."""
    return SandboxPolicy(
        isolation=settings.isolation,
        network=settings.network,
        pass_env=tuple(settings.pass_env),
        hidden=(*(Path(p) for p in settings.hidden), *hidden),
        readable=tuple(Path(p) for p in settings.readable),
        uid=settings.uid,
        gid=settings.uid,
    )


@dataclass(frozen=True)
class Capability:
    backend: Backend
    reason: str = ""  # why there is no sandbox, or what is weaker than asked

    @property
    def isolated(self) -> bool:
        return self.backend != "none"


@dataclass(frozen=True)
class Launch:
    """How to start one command: the argv and environment for the host, and what to say about it."""

    argv: tuple[str, ...]
    env: dict[str, str]
    isolation: str  # for reports: how the command was isolated, or that it was not
    scratch: Path | None = None  # the private temp folder, removed after the run
    sandboxed: bool = True
    cleanup: tuple[Path, ...] = field(default=())


def allowed_env(
    env: Mapping[str, str], *, pass_env: Iterable[str] = (), secret: Iterable[str] = ()
) -> dict[str, str]:
    """Only allow-listed names, and of those none that looks like a secret."""
    allow = (*ENV_ALLOW, *pass_env)
    secret_patterns = tuple(p.upper() for p in secret)
    out = {}
    for name, value in env.items():
        upper = name.upper()
        if not any(fnmatch.fnmatchcase(upper, p.upper()) for p in allow):
            continue
        if any(fnmatch.fnmatchcase(upper, p) for p in secret_patterns):
            continue
        out[name] = value
    return out


# -- what the host can do ---------------------------------------------------------------------------
def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def probe(*, root: bool | None = None) -> Capability:
    """Which isolation this host provides; asked once per process (it does not change)."""
    bwrap = _bwrap()
    if bwrap is None:
        return Capability("none", "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    as_root = os.geteuid() == 0 if root is None else root
    reasons = []
    if as_root:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            reasons.append("setpriv (util-linux) is missing, so commands cannot drop root")
        else:
            argv = [bwrap, *_namespaces(network=False), "--ro-bind", "/", "/", "--proc", "/proc"]
            argv += ["--dev", "/dev", "--", *_drop(setpriv, NOBODY, NOBODY), "true"]
            failure = _try(argv)
            if failure is None:
                return Capability("bwrap-setpriv")
            reasons.append(f"bwrap as root failed: {failure}")
    argv = [bwrap, "--unshare-user", *_namespaces(network=False), "--ro-bind", "/", "/"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--", "true"]
    failure = _try(argv)
    if failure is None:
        weaker = "; commands keep root's file ownership (mapped root, no capabilities)" if as_root else ""
        return Capability("bwrap-userns", "; ".join(reasons) + weaker if as_root else "")
    hint = ""
    if "uid map" in failure or "Permission denied" in failure or "Operation not permitted" in failure:
        hint = (
            " — unprivileged user namespaces are blocked; on Ubuntu 24.04 run "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
        )
    reasons.append(f"bwrap cannot create a user namespace: {failure}{hint}")
    return Capability("none", "; ".join(reasons))


def _try(argv: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    return done.stderr.decode("utf-8", "replace").strip()[-300:] or f"exit {done.returncode}"


def _namespaces(*, network: bool) -> list[str]:
    flags = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    flags += ["--unshare-cgroup-try"]
    if not network:
        flags.append("--unshare-net")  # a fresh namespace: only loopback, and it is up
    return flags


def _drop(setpriv: str, uid: int, gid: int) -> list[str]:
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


# -- the launch ------------------------------------------------------------------------------------
def launch(
    argv: Sequence[str],
    *,
    cwd: Path,
    root: Path,
    policy: SandboxPolicy,
    env: Mapping[str, str],
    writable: Sequence[Path] = (),
    host_env: Mapping[str, str] | None = None,
) -> Launch:
    """The host command that runs ``argv`` in the sandbox ``policy`` asks for, or raises
    ``SandboxUnavailable`` when isolation is required and the host cannot give it."""
    if policy.isolation == "off":
        note = "UNSANDBOXED (validation.sandbox.isolation = off)"
        return Launch(tuple(argv), dict(env), note, sandboxed=False)
    capability = probe()
    if not capability.isolated:
        if policy.isolation == "best-effort":
            note = f"UNSANDBOXED (no isolation on this host: {capability.reason})"
            return Launch(tuple(argv), dict(env), note, sandboxed=False)
        raise SandboxUnavailable(
            f"refusing to run repository code without a sandbox: {capability.reason}. "
            "Set validation.sandbox.isolation = 'off' (or 'best-effort') to accept running unsandboxed."
        )
    backend = capability.backend
    scratch = Path(tempfile.mkdtemp(prefix="milestone-bot-sandbox-"))
    try:
        return _bwrap_launch(
            argv, cwd=cwd, root=root, policy=policy, env=env, writable=writable,
            host_env=os.environ if host_env is None else host_env, backend=backend,
            scratch=scratch, weaker=capability.reason,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _bwrap_launch(
    argv: Sequence[str],
    *,
    cwd: Path,
    root: Path,
    policy: SandboxPolicy,
    env: Mapping[str, str],
    writable: Sequence[Path],
    host_env: Mapping[str, str],
    backend: Backend,
    scratch: Path,
    weaker: str,
) -> Launch:
    bwrap = _bwrap()
    assert bwrap is not None  # probe found it
    root = root.resolve()
    rw = existing([root, *writable])
    tmp, gitconf = scratch / "tmp", scratch / "git"
    home = tmp / "home"
    home.mkdir(parents=True)
    gitconf.mkdir()
    if backend == "bwrap-setpriv":
        try:
            os.chown(tmp, policy.uid, policy.gid)
            os.chown(home, policy.uid, policy.gid)
            for path in rw:
                grant_write(path, policy.uid)
        except OSError as exc:
            backend, weaker = "bwrap-userns", f"cannot open the worktree to uid {policy.uid} ({exc})"
    hide, common = hidden_paths(root, policy.hidden, host_env)
    args: list[str] = [bwrap]
    if backend == "bwrap-userns":
        args += ["--unshare-user", "--cap-drop", "ALL"]
    args += _namespaces(network=policy.network)
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += _hide(hide)
    args += ["--bind", str(tmp), "/tmp"]  # noqa: S108 - the private temp folder, bound over /tmp
    covered = [*hide, Path("/tmp")]  # noqa: S108 - mounted over: mount points there need parents
    tools, tool_env, tool_secrets = toolchains(host_env)
    shown = [*interpreter_dirs(argv, env), *tools, *policy.readable]
    if common is not None:
        shown.append(common)
    # Never a folder that would show a hidden one again (the parent of a PATH entry like ~/bin).
    visible = [p for p in existing(shown) if not any(p == h or p in h.parents for h in hide)]
    bound = [p for p in visible if under(p, covered) and not under(p, rw)]
    for path in bound:
        if not any(other in path.parents for other in bound):  # else inside one bound already
            args += [*_parents(path, covered), "--ro-bind", str(path), str(path)]
    for path in rw:
        args += [*_parents(path, covered), "--bind", str(path), str(path)]
    dot_git = root / ".git"
    if dot_git.exists():  # the git dir, or the pointer to it: changed, it would steer the bot's git
        args += ["--ro-bind", str(dot_git), str(dot_git)]
    if common is not None:  # after the binds above, which would cover it
        args += _clean_git_config(common, gitconf, covered)
    # Last, so nothing bound above shows them again: what is hidden inside a writable folder (the
    # bot's folder and other worktrees when the command runs in the main checkout), the ledger...
    inside = [h for h in hide if under(h, rw) and h not in rw]
    args += _hide(existing([*inside, *policy.hidden, *tool_secrets]))
    args += ["--chdir", str(cwd.resolve())]
    inner = {**tool_env, **env}
    inner.update({"HOME": "/tmp/home", "TMPDIR": "/tmp", "USER": "sandbox"})  # noqa: S108
    setpriv = shutil.which("setpriv")
    if backend == "bwrap-setpriv" and setpriv:
        # The worktree belongs to root, the command runs as another uid: git inside would refuse it.
        inner.update(
            {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
        )
        args += ["--", *_drop(setpriv, policy.uid, policy.gid), *argv]
        how = f"bubblewrap (pid, mount, ipc{'' if policy.network else ', net'} namespaces; uid {policy.uid})"
    else:
        args += ["--", *argv]
        how = f"bubblewrap (user, pid, mount, ipc{'' if policy.network else ', net'} namespaces)"
    if weaker:
        how += f"; weaker: {weaker}"
    return Launch(tuple(args), inner, how, scratch=scratch)


def _parents(path: Path, covered: Sequence[Path]) -> list[str]:
    """Folders leading to a mount point inside a hidden (tmpfs) or private folder, made traversable
    (bwrap would make them 0700, closed to the unprivileged uid)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if any(c in parent.parents for c in covered):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _hide(paths: Iterable[Path]) -> list[str]:
    args: list[str] = []
    for path in paths:
        if path == Path("/"):
            continue
        if path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    return args


def _clean_git_config(common: Path, folder: Path, covered: Sequence[Path]) -> list[str]:
    args: list[str] = []
    for n, config in enumerate(sorted(common.glob("config*")) + sorted(common.glob("worktrees/*/config*"))):
        if not config.is_file():
            continue
        clean = folder / f"config-{n}"
        clean.write_text(sanitize_git_config(config.read_text(encoding="utf-8", errors="replace")))
        args += [*_parents(config, covered), "--ro-bind", str(clean), str(config)]
    return args
