"""The tracer plugin (bot/validation/trace.py) in a real pytest run, in the sandbox validation uses:
what each passing test ran in the changed file, one branch of a one-line conditional told from the
other, the names the code referred to, and a tracer the project installed itself kept working."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.validation.detect import Check
from bot.validation.pipeline import CheckRun, Settings, run_check
from bot.validation.trace import TraceRequest

MODULE = "def pick(x):\n    return 'yes' if x else 'no'\n\n\ndef unused():\n    return 0\n"
TESTS = (
    "import mod\n\n\ndef test_yes():\n    assert mod.pick(1) == 'yes'\n\n\n"
    "def test_fails():\n    assert mod.pick(0) == 'maybe'\n"
)
# The project's own tracer (as coverage installs one): it must keep seeing calls while ours runs.
CONFTEST = (
    "import sys\n\nCALLS = []\n\n\ndef _theirs(frame, event, arg):\n"
    "    if event == 'call' and frame.f_code.co_name == 'pick':\n        CALLS.append(1)\n    return None\n\n\n"
    "def pytest_configure(config):\n    sys.settrace(_theirs)\n\n\n"
    "def pytest_unconfigure(config):\n    sys.settrace(None)\n    open('theirs.txt', 'w').write(str(len(CALLS)))\n"
)


async def run_pytest_in(
    root: Path, files: dict[str, str], traced: TraceRequest | None, settings: Settings | None = None
) -> CheckRun:
    """mod.py and ``files`` in ``root``, pytest run there as validation runs it (sandboxed)."""
    for name, text in {"mod.py": MODULE, **files}.items():
        (root / name).write_text(text)
    check = Check((sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"), "pytest")
    return await run_check(check, cwd=root, settings=settings or Settings(timeout_s=120), traced=traced)


async def test_each_passing_test_s_lines_spans_and_names_are_recorded(tmp_path: Path) -> None:
    request = TraceRequest(("mod.py",), ("test_mod.py::test_yes", "test_mod.py::test_fails"), every_test=True)
    run = await run_pytest_in(tmp_path, {"test_mod.py": TESTS, "conftest.py": CONFTEST}, request)
    assert {c.id: c.outcome for c in run.cases} == {
        "test_mod.py::test_yes": "passed",
        "test_mod.py::test_fails": "failed",
    }
    trace = run.trace
    assert trace is not None and trace.runs == 1
    # only the passing test counts
    assert set(trace.acceptance) == {"test_mod.py::test_yes"}
    lines, names = trace.acceptance["test_mod.py::test_yes"]
    assert lines == {"mod.py": {2}} and {"pick", "mod"} <= names
    yes, no = (2, 12, 2, 17), (2, 28, 2, 32)  # 'yes' and 'no', 1-based columns
    assert MODULE.splitlines()[1][11:16] == "'yes'" and MODULE.splitlines()[1][27:31] == "'no'"
    assert trace.ran_in("mod.py", yes) and not trace.ran_in("mod.py", no)
    # the project's tracer still saw both calls (ours chained to it, not replacing it)
    assert (tmp_path / "theirs.txt").read_text() == "2"


async def test_a_run_without_a_trace_request_loads_no_plugin(tmp_path: Path) -> None:
    run = await run_pytest_in(tmp_path, {"test_mod.py": TESTS.split("\n\n\ndef test_fails")[0] + "\n"}, None)
    assert run.trace is None and "milestone_bot_trace" not in " ".join(run.result.argv)


THREADS_AND_PROCESSES = (
    "import subprocess, sys, threading\n\nimport mod\n\n\n"
    "def test_in_a_thread():\n    out = []\n    t = threading.Thread(target=lambda: out.append(mod.pick(0)))\n"
    "    t.start()\n    t.join()\n    assert out == ['no']\n\n\n"
    "def test_in_a_process():\n"
    "    done = subprocess.run([sys.executable, '-c', 'import mod; print(mod.pick(1))'], capture_output=True, text=True)\n"
    "    assert done.stdout.strip() == 'yes'\n"
)


async def test_threads_the_test_starts_are_traced_and_a_process_it_starts_is_said(tmp_path: Path) -> None:
    ids = ("test_mod.py::test_in_a_thread", "test_mod.py::test_in_a_process")
    settings = Settings(timeout_s=120, env={"PYTHONPATH": str(tmp_path)})
    run = await run_pytest_in(
        tmp_path, {"test_mod.py": THREADS_AND_PROCESSES}, TraceRequest(("mod.py",), ids), settings
    )
    assert {c.outcome for c in run.cases} == {"passed"}, run.diagnostics
    trace = run.trace
    assert trace is not None
    assert trace.acceptance["test_mod.py::test_in_a_thread"][0] == {"mod.py": {2}}
    assert trace.spawning == {"test_mod.py::test_in_a_process"} and trace.spawned
