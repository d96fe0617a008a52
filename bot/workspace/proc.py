"""The one place the bot runs subprocesses.

Everything validation runs is code a model may have written, so every run is: an argv list (never a
shell string built from untrusted text), a working directory inside the workspace, a timeout that
kills the whole process group (test runners fork), output capped with head and tail kept (in bounded
memory), an allow-listed environment with tokens and API keys removed, and — for repository code —
the sandbox of ``bot/workspace/sandbox.py``: no secrets, nothing writable but the worktree, no
network, and nothing that outlives the command or keeps its output pipe open.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fnmatch
import os
import shutil
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import WorkspaceError
from bot.workspace.sandbox import Launch, SandboxPolicy, allowed_env, launch

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
    isolation: str = ""  # how it was isolated (bubblewrap ...), or UNSANDBOXED and why: for reports

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def sandboxed(self) -> bool:
        return bool(self.isolation) and not self.isolation.startswith("UNSANDBOXED")


class _Capture:
    """The head and the tail of a stream, in bounded memory however much a command prints."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self._tail_size += len(chunk)
        while self._tail_size - len(self.tail[0]) >= self._keep:
            self._tail_size -= len(self.tail.popleft())

    def text(self, cap: int) -> str:
        tail = b"".join(self.tail)[-self._keep :]
        kept = len(self.head) + len(tail)
        if kept >= self.total:
            return cap_output(bytes(self.head) + tail, cap)
        middle = f"\n... [{self.total - kept} bytes cut] ...\n".encode()
        return cap_output(bytes(self.head) + middle + tail, cap)


def _missing(program: str, path: str, cwd: Path) -> str:
    """Why ``program`` cannot be started ('' when it can), found before any sandbox is built."""
    if os.sep in program:
        target = cwd / program
        return "" if os.access(target, os.X_OK) and target.is_file() else "no such executable file"
    return "" if shutil.which(program, path=path) else "not found on PATH"


async def _exited(proc: asyncio.subprocess.Process) -> int:
    delay = 0.002
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return proc.returncode


async def _pump(stream: asyncio.StreamReader, capture: _Capture) -> None:
    while chunk := await stream.read(65536):
        capture.add(chunk)


async def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    root: Path,
    timeout_s: float,
    extra_env: Mapping[str, str] | None = None,
    extra_secrets: Iterable[str] = (),
    cap: int = DEFAULT_CAP,
    sandbox: SandboxPolicy | None = None,
    writable: Sequence[Path] = (),
    drain_s: float = 2.0,
) -> ProcResult:
    """Run ``argv`` in ``cwd`` (which must be inside ``root``); never raises for a failing command.

    Repository code: it runs in the sandbox (``sandbox``, default: the safe policy), where ``root``
    and ``writable`` are the only writable paths. Raises ``SandboxUnavailable`` when the policy
    requires isolation the host cannot give.
    """
    if isinstance(argv, str) or not argv:
        raise WorkspaceError("commands are argv lists, never shell strings")
    cwd_real, root_real = cwd.resolve(), root.resolve()
    if cwd_real != root_real and root_real not in cwd_real.parents:
        raise WorkspaceError(f"working directory {cwd} is outside the workspace {root}")
    policy = sandbox or SandboxPolicy()
    secrets = (*SECRET_PATTERNS, *extra_secrets)
    env = allowed_env(os.environ, pass_env=policy.pass_env, secret=secrets)
    if policy.isolation == "off" and "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    # Checks must not leave byte-code behind in a worktree: it would be committed with the change
    # and conflict between branches (every branch compiles the same modules differently).
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env.update(extra_env or {})
    started = time.monotonic()
    missing = _missing(argv[0], env.get("PATH", ""), cwd_real)
    if missing:
        return ProcResult(tuple(argv), 127, f"cannot run {argv[0]}: {missing}", time.monotonic() - started)
    plan = await asyncio.to_thread(
        launch, argv, cwd=cwd_real, root=root_real, policy=policy, env=env, writable=writable
    )
    try:
        return await _execute(argv, plan, cwd=cwd_real, timeout_s=timeout_s, cap=cap, drain_s=drain_s,
                              started=started)  # fmt: skip
    finally:
        if plan.scratch is not None:
            await asyncio.to_thread(shutil.rmtree, plan.scratch, True)


async def _execute(
    argv: Sequence[str],
    plan: Launch,
    *,
    cwd: Path,
    timeout_s: float,
    cap: int,
    drain_s: float,
    started: float,
) -> ProcResult:
    try:
        proc = await asyncio.create_subprocess_exec(
            *plan.argv,
            cwd=cwd,
            env=plan.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    except OSError as exc:  # command not found, not executable
        return ProcResult(tuple(argv), 127, f"cannot run {argv[0]}: {exc}", time.monotonic() - started,
                          isolation=plan.isolation)  # fmt: skip
    assert proc.stdout is not None
    capture = _Capture(max(cap, 1024) * 2)
    reader = asyncio.create_task(_pump(proc.stdout, capture))
    exited = asyncio.create_task(_exited(proc))
    timed_out = False
    notes = []
    try:
        # Python 3.11's ``wait()`` also waits for the pipes to close, which a forked daemon can hold
        # forever: watch the exit status and the stream apart.
        await asyncio.wait({reader, exited}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            try:
                await asyncio.wait_for(
                    asyncio.shield(exited), timeout=max(0.0, started + timeout_s - time.monotonic())
                )
            except TimeoutError:
                timed_out = True
                _kill_group(proc.pid)  # in the sandbox: its namespace's init dies, and all in it
                await exited
        # Whatever of its process group is left (outside the sandbox: forked daemons) goes too.
        _kill_group(proc.pid)
        try:
            await asyncio.wait_for(asyncio.shield(reader), timeout=drain_s)
        except TimeoutError:
            # Only outside the sandbox: a setsid daemon still holds the pipe. Stop reading.
            reader.cancel()
            notes.append("[a leftover process held the output open; stopped reading]")
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        reader.cancel()
        raise
    finally:
        exited.cancel()
        transport = getattr(proc, "_transport", None)
        if transport is not None and not reader.done():
            transport.close()
    output = capture.text(cap)
    if timed_out:
        output += f"\n[killed after {timeout_s:g}s timeout]"
    for note in notes:
        output += f"\n{note}"
    code = proc.returncode if proc.returncode is not None else -1
    return ProcResult(tuple(argv), code, output, time.monotonic() - started, timed_out, plan.isolation)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
