"""The one place the bot runs subprocesses.

Everything validation runs is code a model may have written, so every run is: an argv list (never a
shell string built from untrusted text), a working directory inside the workspace, a timeout that
kills the whole process group (test runners fork), output capped with head and tail kept, and an
environment with tokens and API keys removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import WorkspaceError

# Names never passed to validation: GitHub and provider credentials, and the runner's own tokens.
SECRET_PATTERNS = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "*_TOKEN",
    "*_API_KEY",
    "*_APIKEY",
    "*_SECRET",
    "*_SECRET_*",
    "*_PASSWORD",
    "*_ACCESS_KEY*",
    "ACTIONS_RUNTIME_*",
    "ACTIONS_ID_TOKEN_*",
    "ACTIONS_CACHE_URL",
    "ACTIONS_RESULTS_URL",
    "AWS_SESSION_TOKEN",
    "OPENAI_*",
    "ANTHROPIC_*",
    "GROQ_*",
    "OPENROUTER_*",
)

DEFAULT_CAP = 64_000


def scrub_env(env: Mapping[str, str], *, extra_secrets: Iterable[str] = ()) -> dict[str, str]:
    patterns = (*SECRET_PATTERNS, *extra_secrets)
    return {
        k: v for k, v in env.items() if not any(fnmatch.fnmatchcase(k.upper(), p.upper()) for p in patterns)
    }


def cap_output(data: bytes, limit: int) -> str:
    """Decode and keep the head and the tail: the command line and the summary both matter."""
    text = data.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return text
    half = limit // 2
    dropped = len(text) - 2 * half
    return f"{text[:half]}\n... [{dropped} characters cut] ...\n{text[-half:]}"


@dataclass(frozen=True)
class ProcResult:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr interleaved, capped
    duration_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


async def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    root: Path,
    timeout_s: float,
    extra_env: Mapping[str, str] | None = None,
    extra_secrets: Iterable[str] = (),
    cap: int = DEFAULT_CAP,
) -> ProcResult:
    """Run ``argv`` in ``cwd`` (which must be inside ``root``); never raises for a failing command."""
    if isinstance(argv, str) or not argv:
        raise WorkspaceError("commands are argv lists, never shell strings")
    cwd_real, root_real = cwd.resolve(), root.resolve()
    if cwd_real != root_real and root_real not in cwd_real.parents:
        raise WorkspaceError(f"working directory {cwd} is outside the workspace {root}")
    env = scrub_env(os.environ, extra_secrets=extra_secrets)
    # Checks must not leave byte-code behind in a worktree: it would be committed with the change
    # and conflict between branches (every branch compiles the same modules differently).
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env.update(extra_env or {})
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd_real,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    except OSError as exc:  # command not found, not executable
        return ProcResult(tuple(argv), 127, f"cannot run {argv[0]}: {exc}", time.monotonic() - started)
    timed_out = False
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    except TimeoutError:
        timed_out = True
        _kill_group(proc.pid)
        stdout, _ = await proc.communicate()
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    output = cap_output(stdout or b"", cap)
    if timed_out:
        output += f"\n[killed after {timeout_s:g}s timeout]"
    code = proc.returncode if proc.returncode is not None else -1
    return ProcResult(tuple(argv), code, output, time.monotonic() - started, timed_out)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
