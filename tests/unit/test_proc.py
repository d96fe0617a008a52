"""The one subprocess runner: argv only, timeouts kill the process group, output capped, no secrets."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bot.errors import WorkspaceError
from bot.workspace.proc import cap_output, run, scrub_env
from bot.workspace.sandbox import SandboxPolicy

UNSANDBOXED = SandboxPolicy(isolation="off")


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # Unsandboxed, so the child's pid is the host's (in the sandbox see tests/security/).
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = await run(
        [sys.executable, "-c", script], cwd=tmp_path, root=tmp_path, timeout_s=1.0, sandbox=UNSANDBOXED
    )
    assert result.timed_out and not result.ok and not result.sandboxed
    assert time.monotonic() - started < 10
    assert "[killed after 1s timeout]" in result.output
    child = int(pid_file.read_text())
    for _ in range(50):  # the child was in the group: it is gone (or a zombie about to be reaped)
        try:
            os.kill(child, 0)
            state = (
                Path(f"/proc/{child}/stat").read_text().split()[2] if Path(f"/proc/{child}").exists() else "X"
            )
            if state in ("Z", "X"):
                break
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("child process survived the timeout")


async def test_validation_commands_see_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "GROQ_API_KEY",
        "ANTHROPIC_API_KEY",
        "DEPLOY_TOKEN",
        "MY_CUSTOM_THING",
    ):
        monkeypatch.setenv(name, "s3cret-value")
    monkeypatch.setenv("HARMLESS", "visible")
    code = "import os; print(sorted(k for k in os.environ)); print(os.environ.get('HARMLESS'))"
    result = await run(
        [sys.executable, "-c", code], cwd=tmp_path, root=tmp_path, timeout_s=10, extra_secrets=["MY_CUSTOM_*"]
    )
    assert result.ok
    # An allow list: a variable nobody named does not pass either.
    assert "HARMLESS" not in result.output and "visible" not in result.output
    policy = SandboxPolicy(pass_env=("HARMLESS", "MY_CUSTOM_THING", "GITHUB_TOKEN"))
    result = await run(
        [sys.executable, "-c", code], cwd=tmp_path, root=tmp_path, timeout_s=10, extra_secrets=["MY_CUSTOM_*"],
        sandbox=policy,
    )  # fmt: skip
    assert "s3cret-value" not in result.output
    for name in (
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "GROQ_API_KEY",
        "ANTHROPIC_API_KEY",
        "DEPLOY_TOKEN",
        "MY_CUSTOM_THING",
    ):
        assert name not in result.output
    assert "visible" in result.output


def test_scrub_env_keeps_ordinary_variables() -> None:
    env = scrub_env({"PATH": "/bin", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x", "NPM_TOKEN": "y"})
    assert env == {"PATH": "/bin", "HOME": "/root"}


async def test_argv_only_and_cwd_inside_root(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="argv lists"):
        await run("echo hi", cwd=tmp_path, root=tmp_path, timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        await run(["true"], cwd=tmp_path.parent, root=tmp_path, timeout_s=5)
    # Shell metacharacters in an argument are data, not syntax.
    result = await run(["echo", "a; rm -rf /"], cwd=tmp_path, root=tmp_path, timeout_s=5)
    assert result.output.strip() == "a; rm -rf /"


async def test_missing_command_is_a_result_not_a_crash(tmp_path: Path) -> None:
    result = await run(["no-such-command-xyz"], cwd=tmp_path, root=tmp_path, timeout_s=5)
    assert result.returncode == 127 and "cannot run" in result.output


def test_output_cap_keeps_head_and_tail() -> None:
    text = cap_output(("a" * 1000 + "MIDDLE" + "z" * 1000).encode(), 200)
    assert text.startswith("a" * 100) and text.endswith("z" * 100) and "MIDDLE" not in text and "cut" in text


async def test_a_daemon_holding_the_pipe_never_keeps_a_finished_command_waiting(tmp_path: Path) -> None:
    """Even unsandboxed: the command's exit is watched apart from its output, and after it a
    leftover holder of the pipe gets a short drain, not the whole timeout."""
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    for _ in range(100):\n"
        "        print('daemon', flush=True); time.sleep(0.1)\n"
        "    os._exit(0)\n"
        "print('parent done', flush=True)\n"
    )
    started = time.monotonic()
    result = await run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        root=tmp_path,
        timeout_s=60,
        sandbox=UNSANDBOXED,
        drain_s=1.0,
    )
    assert time.monotonic() - started < 8
    assert result.ok and not result.timed_out and "parent done" in result.output
    assert "held the output open" in result.output


async def test_output_is_capped_in_bounded_memory(tmp_path: Path) -> None:
    code = "import sys\nfor i in range(200_000):\n    sys.stdout.write(f'line {i}\\n')\nprint('THE END')\n"
    result = await run([sys.executable, "-c", code], cwd=tmp_path, root=tmp_path, timeout_s=60, cap=2_000)
    assert result.ok and len(result.output) < 2_200
    assert result.output.startswith("line 0") and "THE END" in result.output and "cut" in result.output
