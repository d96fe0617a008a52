"""The red team: a model-written test that tries every channel out of validation finds nothing,
changes nothing, and ends within its timeout — and the same test, run without the sandbox, finds
what it looks for (so the probes are real, and switching the sandbox off fails this suite).

The bot is played by a real process holding the secrets in its environment, a real repository
whose ``.git/config`` carries a token the way a publish step writes one, a real ledger, a second
worktree, a credentials file in HOME, a live agent socket and a listening TCP port.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot
from bot.budget.ledger import CallRecord, Ledger
from bot.models.base import Usage
from bot.workspace import proc, sandbox
from bot.workspace.sandbox import Capability, SandboxPolicy, probe
from bot.workspace.worktrees import Worktrees
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

HOSTILE = Path(__file__).with_name("hostile_test.py.txt")
CHANNELS = (
    "environment", "processes", "credential-files", "git-config", "agent-socket", "ledger-read", "ledger-write",
    "hooks-write", "venv-write", "bot-source-write", "other-worktree-write", "main-checkout-write",
    "dot-git-replace", "network", "daemons",
)  # fmt: skip
SECRET_NAMES = (
    "GITHUB_TOKEN", "ANTHROPIC_API_KEY", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "DATABASE_URL", "GITHUB_PAT",
    "SLACK_WEBHOOK_URL",
)  # fmt: skip
# Switch the red team's sandbox off (MILESTONE_BOT_RED_TEAM_ISOLATION=off) and it must fail.
ISOLATION = os.environ.get("MILESTONE_BOT_RED_TEAM_ISOLATION", "required")

needs_sandbox = pytest.mark.skipif(
    not probe().isolated and ISOLATION == "required",
    reason=f"this host cannot isolate: {probe().reason}",
)


@dataclass
class Bot:
    canary: str
    repo: Path
    worktree: Path
    other: Path
    ledger: Path
    home: Path
    daemon_token: str
    port: int
    process: subprocess.Popen[bytes]


def host_ip() -> str:
    """An address of this machine other than loopback (to try the host from the sandbox)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


@pytest.fixture
def bot_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bot]:
    canary = f"canary-{uuid.uuid4().hex}"
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, f"{name}-{canary}")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".git-credentials").write_text(f"https://x-access-token:{canary}@github.com\n")
    (home / ".netrc").write_text(f"machine github.com login x password {canary}\n")
    monkeypatch.setenv("HOME", str(home))
    agent_path = tmp_path / "agent.sock"
    agent = socket.socket(socket.AF_UNIX)
    agent.bind(str(agent_path))
    agent.listen()
    monkeypatch.setenv("SSH_AUTH_SOCK", str(agent_path))
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    threading.Thread(target=_accept, args=(listener,), daemon=True).start()

    repo = make_repo(tmp_path / "repo", PYTHON_PROJECT)
    # What a publish step with a token in the remote URL, or actions/checkout, leaves behind.
    git(repo, "remote", "add", "origin", f"https://x-access-token:{canary}@github.com/o/r.git")
    git(repo, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {canary}")
    trees = Worktrees(repo)
    worktree = trees.create("run-1", "item-1", "HEAD").path
    other = trees.create("run-1", "item-2", "HEAD").path
    ledger_path = repo / ".milestone-bot" / "ledger.sqlite"
    ledger = Ledger(ledger_path)
    ledger.record_call(CallRecord("run-1", "item-1", 1, "change", "t", "p", "m", Usage(10, 10), _usd("0.5"), 1.0,
                                  "ok"))  # fmt: skip
    ledger.close()
    # The bot: a process with the secrets in its environment, as the job's main process has.
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=dict(os.environ))
    daemon_token = f"daemon-{uuid.uuid4().hex}"
    try:
        yield Bot(canary, repo, worktree, other, ledger_path, home, daemon_token, port, process)
    finally:
        process.kill()
        process.wait()
        _kill_daemons(daemon_token)
        agent.close()
        listener.close()


def _usd(text: str) -> object:
    from decimal import Decimal

    return Decimal(text)


def _accept(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()


def _daemons(token: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _kill_daemons(token: str) -> None:
    """Only the unsandboxed run leaves these: end them, by their pids."""
    for pid in _daemons(token):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            continue


def hostile_test(state: Bot, *, decoys: Path | None = None) -> str:
    """The hostile test with the host's paths filled in; ``decoys``: aim the writes at the bot's
    venv and source there instead (for the unsandboxed run, which would really write them)."""
    text = HOSTILE.read_text()
    values = {
        "CANARY": state.canary,
        "BOT_PID": str(state.process.pid),
        "RUNNER_PID": str(os.getpid()),
        "LEDGER": str(state.ledger),
        "MAIN": str(state.repo),
        "HOOKS": str(state.repo / ".git" / "hooks"),
        "OTHER": str(state.other),
        "VENV": str(Path(sys.prefix)),
        "BOT_SOURCE": str(Path(bot.__file__).parent),
        "HOME": str(state.home),
        "AGENT": os.environ["SSH_AUTH_SOCK"],
        "PORT": str(state.port),
        "DAEMON_TOKEN": state.daemon_token,
        "DOT_GIT": str(state.worktree / ".git"),
        "HOST_IP": host_ip(),
    }
    if decoys is not None:
        for key in ("VENV", "BOT_SOURCE"):
            (decoys / key).mkdir(parents=True, exist_ok=True)
            values[key] = str(decoys / key)
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def snapshot(state: Bot) -> dict[str, object]:
    """What the hostile test must not change, read from the host."""
    db = sqlite3.connect(state.ledger)
    try:
        rows = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    finally:
        db.close()
    return {
        "ledger_rows": rows,
        "hooks": sorted(p.name for p in (state.repo / ".git" / "hooks").iterdir()),
        "venv_pwned": (Path(sys.prefix) / "pwned.pth").exists(),
        "bot_pwned": (Path(bot.__file__).parent / "pwned.py").exists(),
        "other": sorted(p.name for p in state.other.iterdir()),
        "main": sorted(p.name for p in state.repo.iterdir()),
        "dot_git": (state.worktree / ".git").read_text(),
    }


async def run_hostile(
    state: Bot, policy: SandboxPolicy, *, timeout_s: float = 60, decoys: Path | None = None
) -> proc.ProcResult:
    (state.worktree / "tests" / "test_hostile.py").write_text(hostile_test(state, decoys=decoys))
    argv = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_hostile.py"]
    return await proc.run(argv, cwd=state.worktree, root=state.worktree, timeout_s=timeout_s, sandbox=policy)


def verdicts(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("FOUND", "BLOCKED"):
            out[rest.split(":")[0]] = word
    return out


@needs_sandbox
@pytest.mark.parametrize("backend", ["host", "bwrap-userns"])
async def test_red_team_finds_nothing_changes_nothing_and_ends(
    bot_state: Bot, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``host``: what this host gives (as root: bwrap plus a uid drop). ``bwrap-userns``: the user
    namespace GitHub's runners use, where the bot is not root (as root here: mapped root)."""
    if backend != "host":
        monkeypatch.setattr(sandbox, "probe", lambda: Capability("bwrap-userns"))
    policy = SandboxPolicy(
        isolation=ISOLATION,  # type: ignore[arg-type]
        hidden=(bot_state.ledger,),
    )
    before = snapshot(bot_state)
    started = time.monotonic()
    result = await run_hostile(bot_state, policy)
    elapsed = time.monotonic() - started

    found = verdicts(result.output)
    assert set(found) == set(CHANNELS), result.output  # every probe ran
    leaks = {c for c, v in found.items() if v == "FOUND"}
    if backend != "host":
        # Mapped root may write the folders leading to its mount points: they are in its private
        # /tmp, thrown away after the run. The host's snapshot below is what says nothing changed.
        leaks -= {"main-checkout-write", "other-worktree-write"}
    assert not leaks, result.output
    assert bot_state.canary not in result.output
    assert snapshot(bot_state) == before
    assert result.sandboxed, result.isolation
    # No process outlives the command, and a daemon holding the pipe did not keep it waiting.
    assert _daemons(bot_state.daemon_token) == []
    assert elapsed < 20, elapsed  # its daemons would print for 30 s
    assert "CAPS 0000000000000000" in result.output, result.output  # no capabilities in any case
    if os.geteuid() == 0 and backend == "host":  # as root, the command runs as an unprivileged uid
        assert "UID 0 " not in result.output and "CAPS 0000000000000000" in result.output, result.output


async def test_without_the_sandbox_the_red_team_finds_the_secrets(bot_state: Bot, tmp_path: Path) -> None:
    """The probes are real: unsandboxed, the same test reads the bot's secrets and writes its state.
    (So the test above fails whenever the sandbox is not really applied.)"""
    result = await run_hostile(bot_state, SandboxPolicy(isolation="off"), decoys=tmp_path / "decoys")
    found = verdicts(result.output)
    for channel in ("environment", "processes", "credential-files", "git-config", "ledger-write", "hooks-write",
                    "venv-write", "other-worktree-write", "main-checkout-write", "dot-git-replace"):  # fmt: skip
        assert found.get(channel) == "FOUND", (channel, result.output)
    assert not result.sandboxed and "UNSANDBOXED" in result.isolation


@needs_sandbox
async def test_a_command_that_never_ends_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    token = f"sleeper-{uuid.uuid4().hex}"
    code = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time  # {token}\\ntime.sleep(600)'], start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    result = await proc.run([sys.executable, "-c", code], cwd=tmp_path, root=tmp_path, timeout_s=2)
    assert result.timed_out and "started" in result.output
    assert time.monotonic() - started < 10
    for _ in range(20):
        if not _daemons(token):
            break
        time.sleep(0.1)
    assert _daemons(token) == []


@needs_sandbox
async def test_loopback_works_inside_and_network_only_when_the_config_says(tmp_path: Path) -> None:
    code = (
        "import socket\n"
        "s = socket.create_server(('127.0.0.1', 0)); port = s.getsockname()[1]\n"
        "socket.create_connection(('127.0.0.1', port), timeout=2).close(); print('loopback ok')\n"
    )
    result = await proc.run([sys.executable, "-c", code], cwd=tmp_path, root=tmp_path, timeout_s=20)
    assert result.ok and "loopback ok" in result.output, result.output
    reach = f"import socket\nsocket.create_connection(({host_ip()!r}, {{port}}), timeout=2).close()\nprint('reached')\n"
    listener = socket.create_server(("0.0.0.0", 0))
    threading.Thread(target=_accept, args=(listener,), daemon=True).start()
    try:
        argv = [sys.executable, "-c", reach.format(port=listener.getsockname()[1])]
        closed = await proc.run(argv, cwd=tmp_path, root=tmp_path, timeout_s=20)
        assert not closed.ok and "reached" not in closed.output
        opened = await proc.run(
            argv, cwd=tmp_path, root=tmp_path, timeout_s=20, sandbox=SandboxPolicy(network=True)
        )
        assert opened.ok and "reached" in opened.output, opened.output
    finally:
        listener.close()
