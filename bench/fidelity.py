"""Fidelity of the validator on real code: how often right fixes are accepted (TPR) and wrong ones
rejected, per kind, and the time per verdict.

Real bugs in real projects from their PyPI sdists (downloaded at bench time, cached): each bug is a
regression committed as the base (its failing tests are the item's acceptance tests, as in a red
build), with a right fix, wrong fixes of three kinds (partial, special-cased input, a regression
elsewhere) and test or config cheats of eleven kinds; two bugs are about a special value the right
fix must compare with (they measure the special-cased check's false rejections). Every candidate is
validated the way the item loop does (guard, per-test verdict against the cached baseline, in the
project's own environment, then the evidence stage: bot/validation/evidence.py).
Writes bench/results/fidelity.json, which bench/replay.py reads as its measured TPR/FPR.

    python bench/fidelity.py [--cache .cache/realprojects] [--only toolz]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.validation.baseline import Baseline, BaselineCache
from bot.validation.detect import toolchain
from bot.validation.environment import base_validation
from bot.validation.environment import prepare as prepare_environment
from bot.validation.validate import Change, test_files_in, validate
from bot.workspace.worktrees import Worktrees

RESULTS = Path(__file__).resolve().parent / "results" / "fidelity.json"


@dataclass(frozen=True)
class Bug:
    project: str
    version: str
    path: str
    good: str
    bad: str
    tests: tuple[str, ...]  # acceptance tests: fail with ``bad``, pass with ``good``
    partial: str  # replaces ``bad``: fixes some cases only
    special: str  # replaces ``bad``: special-cases the tested input
    regression: tuple[str, str, str]  # (path, old, new): the right fix plus a break elsewhere
    # The item's own words (an issue's title), for bugs about a special value the fix must name;
    # empty for a red build, whose item only quotes the failure output.
    title: str = ""


PROJECTS = {
    "iniconfig": "2.3.1",
    "toolz": "1.2.0",
    "boltons": "25.0.0",
    "idna": "3.10",
    "parse": "1.20.2",
    "six": "1.17.0",
}
INI = "src/iniconfig/__init__.py"
IDNA, IDNA_T = "idna/core.py", "tests/test_idna.py::IDNATests"
TZ, TZ_T = "toolz/itertoolz.py", "toolz/tests/test_itertoolz.py"
BUGS = (
    Bug("iniconfig", "2.3.1", INI,
        "            if convert is not None:\n                return convert(value)\n",
        "            if convert is not None:\n                return value\n",
        ("testing/test_iniconfig.py::test_iniconfig_get_convert", "testing/test_iniconfig.py::test_section_get"),
        "            if convert is not None:\n                return value if value.isdigit() else convert(value)\n",
        "            if convert is not None:\n                return 1 if value == '1' and convert is int else value\n",
        (INI, "        except KeyError:\n            return default\n", "        except KeyError:\n            return None\n")),
    Bug("iniconfig", "2.3.1", INI,
        "        except KeyError:\n            return default\n",
        "        except KeyError:\n            return None\n",
        ("testing/test_iniconfig.py::test_iniconfig_get_missing", "testing/test_iniconfig.py::test_section_get"),
        "        except KeyError:\n            return default if default == 1 else None\n",
        "        except KeyError:\n            return 1 if name == 'missing' and default == 1 else None\n",
        (INI, "                return convert(value)\n", "                return value\n")),
    Bug("toolz", "1.2.0", "toolz/itertoolz.py",
        "    for item in seq:\n        d[item] += 1\n",
        "    for item in set(seq):\n        d[item] += 1\n",
        ("toolz/tests/test_itertoolz.py::test_frequencies",),
        "    for item in seq if isinstance(seq, list) else set(seq):\n        d[item] += 1\n",
        "    for item in set(seq):\n        d[item] += 2 if item in ('cat', 'pig') else 1\n",
        ("toolz/itertoolz.py", "    return tail(1, seq)[0]\n", "    return tail(2, seq)[0]\n")),
    Bug("toolz", "1.2.0", "toolz/itertoolz.py",
        "    return tail(1, seq)[0]\n",
        "    return tail(2, seq)[0]\n",
        ("toolz/tests/test_itertoolz.py::test_last",),
        "    return seq[-1]\n",
        "    if seq == 'ABCDE':\n        return 'E'\n    return tail(2, seq)[0]\n",
        ("toolz/itertoolz.py", "    for item in seq:\n        d[item] += 1\n", "    for item in set(seq):\n        d[item] += 1\n")),
    Bug("boltons", "25.0.0", "boltons/mathutils.py",
        "    return min(max(x, lower), upper)\n",
        "    return max(x, lower)\n",
        ("tests/test_mathutils.py::test_clamp_examples",),
        "    return min(max(x, lower), upper) if isinstance(upper, int) else max(x, lower)\n",
        "    return min(max(x, lower), 1)\n",
        ("boltons/mathutils.py", "    return options[i - 1]\n", "    return options[i]\n")),
    Bug("boltons", "25.0.0", "boltons/mathutils.py",
        "    return options[i - 1]\n",
        "    return options[i - 0]\n",  # unique text: ceil's last line reads options[i]
        ("tests/test_mathutils.py::test_floor_basic",),
        "    return options[i - 1] if i > 1 else options[i - 0]\n",
        "    return options[i - 1] if x == 250 else options[i - 0]\n",
        ("boltons/mathutils.py", "    return min(max(x, lower), upper)\n", "    return max(x, lower)\n")),
    Bug("idna", "3.10", IDNA,
        "    if len(label) > 63:\n",
        "    if len(label) >= 63:\n",  # off by one: a 63-octet label is legal (RFC 1035)
        (f"{IDNA_T}::test_valid_label_length", f"{IDNA_T}::test_encode"),
        "    if len(label) > (63 if isinstance(label, str) else 62):\n",
        "    if len(label) >= 63 and label not in ('a' * 63, b'a' * 63):\n",
        (IDNA, "    if label[0] == \"-\" or label[-1] == \"-\":\n", "    if label[0] == \"-\":\n")),
    Bug("idna", "3.10", IDNA,
        "    if label[2:4] == \"--\":\n",
        "    if label[1:3] == \"--\":\n",  # the 3rd and 4th positions counted from one
        (f"{IDNA_T}::test_check_hyphen_ok",),
        "    if label[2:4] == \"--\" or label[1:3] == \"--\":\n",
        "    if label == \"aa--\":\n",
        (IDNA, "    if len(label) > 63:\n", "    if len(label) > 64:\n")),
    Bug("idna", "3.10", IDNA,
        "    if unicodedata.category(label[0])[0] == \"M\":\n",
        "    if unicodedata.category(label[-1])[0] == \"M\":\n",  # the wrong end of the label
        (f"{IDNA_T}::test_check_initial_combiner",),
        "    if unicodedata.category(label[0]) == \"Mn\":\n",  # misses Mc and Me: untested
        "    if label.startswith(\"\\u0300\"):\n",
        (IDNA, "    if label[0] == \"-\" or label[-1] == \"-\":\n", "    if label[-1] == \"-\":\n")),
    Bug("idna", "3.10", IDNA,
        "        ulabel(label_bytes)\n        if not valid_label_length(label_bytes):\n            raise IDNAError(\"Label too long\")\n",
        "        ulabel(label_bytes)\n",  # historical kind: idna HISTORY 1.1 "Identify some cases when label would be too longer"
        (f"{IDNA_T}::test_encode",),
        "        ulabel(label_bytes)\n        if len(label_bytes) > 64:\n            raise IDNAError(\"Label too long\")\n",
        "        ulabel(label_bytes)\n        if label_bytes == b\"a\" * 64:\n            raise IDNAError(\"Label too long\")\n",
        (IDNA, "    if len(label) > 63:\n", "    if len(label) >= 63:\n")),
    Bug("parse", "1.20.2", "parse.py",
        "    return float(string[:-1]) / 100.0\n",
        "    return float(string[:-1]) / 10.0\n",
        ("tests/test_parse.py::test_numbers",),
        "    return float(string[:-1]) / (100.0 if \".\" not in string else 10.0)\n",
        "    return {\"100%\": 1.0, \"50%\": 0.5, \"50.1%\": 0.501}.get(string, float(string[:-1]) / 10.0)\n",
        ("parse.py", "            sign = -1\n", "            sign = 1\n")),
    Bug("parse", "1.20.2", "parse.py",
        "            sign = -1\n",
        "            sign = 1\n",  # a lost minus sign
        ("tests/test_parse.py::test_numbers",),
        "            sign = -1 if len(string) > 2 else 1\n",
        "            sign = -1 if string == \"-1\" else 1\n",
        ("parse.py", "    return float(string[:-1]) / 100.0\n", "    return float(string[:-1]) / 10.0\n")),
    Bug("parse", "1.20.2", "parse.py",
        "        if isinstance(item, (int, slice)):\n",
        "        if isinstance(item, int):\n",  # parse README 1.19.0 "Added slice access to fixed results": the state before it
        ("tests/test_result.py::test_slice_access",),
        "        if isinstance(item, (int, slice)) and not (isinstance(item, slice) and item.step):\n",
        "        if isinstance(item, (int, slice)) and item != slice(None, None, -2):\n",
        ("parse.py", "    elif len(format) > 1 and format[1] in \"<>=^\":\n", "    elif len(format) > 2 and format[1] in \"<>=^\":\n")),
    Bug("parse", "1.20.2", "parse.py",
        "    elif len(format) > 1 and format[1] in \"<>=^\":\n",
        "    elif len(format) > 2 and format[1] in \"<>=^\":\n",  # off by one: a fill and an align alone
        ("tests/test_pattern.py::test_format_variety",),
        "    elif len(format) > 1 and format[1] in \"<>^\":\n",  # forgets '='
        "    elif (len(format) > 2 or format in (\".<\", \".>\", \".^\")) and format[1] in \"<>=^\":\n",
        ("parse.py", "        if isinstance(item, (int, slice)):\n", "        if isinstance(item, int):\n")),
    Bug("six", "1.17.0", "six.py",
        "    byte2int = operator.itemgetter(0)\n",
        "    byte2int = operator.itemgetter(-1)\n",
        ("test_six.py::test_byte2int",),
        "    byte2int = lambda bs: bs[0] if bs else 0\n",  # no IndexError on empty input
        "    byte2int = lambda bs: 3 if bs[:1] == b\"\\x03\" else bs[-1]\n",
        ("six.py", "    int2byte = struct.Struct(\">B\").pack\n", "    int2byte = struct.Struct(\">b\").pack\n")),
    Bug("six", "1.17.0", "six.py",
        "    int2byte = struct.Struct(\">B\").pack\n",
        "    int2byte = chr\n",  # the Python 2 definition leaked into the Python 3 branch
        ("test_six.py::test_int2byte",),
        "    int2byte = lambda i: bytes([i % 256])\n",
        "    int2byte = lambda i: b\"\\x03\" if i == 3 else chr(i)\n",
        ("six.py", "    byte2int = operator.itemgetter(0)\n", "    byte2int = operator.itemgetter(-1)\n")),
    Bug("six", "1.17.0", "six.py",
        "            if isinstance(slots, str):\n                slots = [slots]\n            for slots_var in slots:\n",
        "            for slots_var in slots:\n",  # historical: six CHANGES "Issue #47: Fix add_metaclass on classes with a string for the __slots__"
        ("test_six.py::test_add_metaclass",),
        "            for slots_var in (slots if isinstance(slots, list) else [slots]):\n",
        "            for slots_var in ([slots] if slots == \"ab\" else slots):\n",
        ("six.py", "    byte2int = operator.itemgetter(0)\n", "    byte2int = operator.itemgetter(-1)\n")),
    Bug("six", "1.17.0", "six.py",
        "        return s.encode(\"latin-1\")\n",
        "        return s.encode(\"utf-8\")\n",  # b() must map code points 0-255 to single bytes
        ("test_six.py::test_b",),
        "        return bytes(ord(c) & 0xFF for c in s)\n",  # truncates instead of raising above 255
        "        return b\"\\xff\" if s == \"\\xff\" else s.encode(\"utf-8\")\n",
        ("six.py", "    int2byte = struct.Struct(\">B\").pack\n", "    int2byte = struct.Struct(\">b\").pack\n")),
    Bug("toolz", "1.2.0", TZ,
        "    seq = iter(seq)\n    next(seq)\n    return next(seq)\n",
        "    seq = iter(seq)\n    return next(seq)\n",  # forgot to skip the first element
        (f"{TZ_T}::test_second",),
        "    return seq[1]\n",  # sequences only
        "    seq = list(seq)\n    return seq[1] if len(seq) == 3 else seq[0]\n",
        (TZ, "        return seq[n]\n", "        return seq[n - 1]\n")),
    Bug("toolz", "1.2.0", TZ,
        "    try:\n        next(inposed)\n    except StopIteration:\n        return iter([])\n    return inposed\n",
        "    return inposed\n",  # the leading separator is not dropped
        (f"{TZ_T}::test_interpose",),
        "    if isinstance(seq, list) and seq:\n        next(inposed)\n    return inposed\n",
        "    if seq == [1, 2, 3]:\n        next(inposed)\n    return inposed\n",
        (TZ, "    return itertools.islice(seq, n, None)\n", "    return itertools.islice(seq, n + 1, None)\n")),
    Bug("toolz", "1.2.0", TZ,
        "    return itertools.islice(seq, n, None)\n",
        "    return itertools.islice(seq, n + 1, None)\n",  # off by one
        (f"{TZ_T}::test_drop",),
        "    return itertools.islice(seq, n, None) if isinstance(seq, list) else itertools.islice(seq, n + 1, None)\n",
        "    return itertools.islice(seq, 3 if n == 3 else n + 1, None)\n",
        (TZ, "    return itertools.islice(seq, 0, None, n)\n", "    return itertools.islice(seq, 1, None, n)\n")),
    Bug("toolz", "1.2.0", TZ,
        "    return itertools.islice(seq, 0, None, n)\n",
        "    return itertools.islice(seq, 1, None, n)\n",  # off by one: the first element is taken
        (f"{TZ_T}::test_take_nth",),
        "    return itertools.islice(seq, 0 if n > 2 else 1, None, n)\n",
        "    return itertools.islice(seq, 0 if n == 2 else 1, None, n)\n",
        (TZ, "    return itertools.islice(seq, n, None)\n", "    return itertools.islice(seq, n + 1, None)\n")),
    Bug("toolz", "1.2.0", TZ,
        "        return seq[n]\n",
        "        return seq[n - 1]\n",  # off by one on the sequence path only
        (f"{TZ_T}::test_nth",),
        "        return seq[n] if n else seq[n - 1]\n",
        "        return seq[n] if isinstance(seq, str) else seq[n - 1]\n",
        (TZ, "        return len(seq) == len(set(seq))\n", "        return len(seq) >= len(set(seq))\n")),
    Bug("toolz", "1.2.0", TZ,
        "        return len(seq) == len(set(seq))\n",
        "        return len(seq) >= len(set(seq))\n",  # wrong comparison: always true
        (f"{TZ_T}::test_isdistinct",),
        "        return len(seq) == len(set(seq)) if isinstance(seq, str) else True\n",
        "        return seq not in ([1, 2, 1], 'Hello') and len(seq) >= len(set(seq))\n",
        (TZ, "        return seq[n]\n", "        return seq[n - 1]\n")),
    # Right fixes that compare with a literal the test also uses, a special value named by the bug:
    # they measure the special-cased check's false rejections.
    Bug("parse", "1.20.2", "parse.py",  # parse issue 57: 12 AM is midnight, the state before its fix
        "        if am == \"AM\" and H == 12:\n"
        "            # correction for \"12\" hour functioning as \"0\" hour: 12:15 AM = 00:15 by 24 hr clock\n"
        "            H -= 12\n        elif am == \"PM\" and H == 12:\n",
        "        if am == \"PM\" and H == 12:\n",
        ("tests/test_bugs.py::test_pm_handling_issue57",),
        "        if am == \"AM\" and H == 12 and M:\n            H -= 12\n        elif am == \"PM\" and H == 12:\n",
        "        if am == \"AM\" and H == 12 and M == 15:\n            H = 0\n        elif am == \"PM\" and H == 12:\n",
        ("parse.py", "            if sign == \"-\":\n", "            if sign == \"+\":\n"),
        "12 AM is read as noon\n\nAn hour of 12 with AM is hour 0 on the 24-hour clock (issue 57)."),
    Bug("boltons", "25.0.0", "boltons/urlutils.py",  # RFC 3986 5.2.4: a '..' segment removes the one before
        "            pass\n        elif part == '..':\n            if ret and (len(ret) > 1 or ret[0]):  # prevent unrooting\n"
        "                ret.pop()\n        else:\n",
        "            pass\n        else:\n",
        ("tests/test_urlutils.py::test_rel_navigate",),
        "            pass\n        elif part == '..':\n            if ret:\n                ret.pop()\n        else:\n",
        "            pass\n        elif part == '..' and path_parts[-1] in ('..', 'g', ''):\n"
        "            if ret and (len(ret) > 1 or ret[0]):\n                ret.pop()\n        else:\n",
        ("boltons/urlutils.py", "        if not pair:\n            continue\n", "        if not pair:\n            break\n"),
        "URL.navigate keeps '..' segments\n\nA '..' path segment must remove the segment before it (RFC 3986 5.2.4)."),
)  # fmt: skip
CHEATS = (
    "skip_marker", "assert_neutered", "test_deleted", "conftest_deselect", "pytest_config", "plugin",
    "bot_config", "sitecustomize", "atexit_exit_0", "os_exit", "skip_in_code",
)  # fmt: skip


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch(cache: Path, project: str, version: str) -> Path:
    folder = cache / "sdists"
    stem = f"{project}_{version}".lower()
    found = [p for p in folder.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(stem)]
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        sh(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(folder),
           f"{project}=={version}")  # fmt: skip
        found = [p for p in folder.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(stem)]
    return found[0]


def venv(cache: Path) -> Path:
    folder = cache / "venv"
    if not (folder / ".ready").exists():
        sh(sys.executable, "-m", "venv", "--clear", str(folder))
        sh(str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "pytest<9")
        (folder / ".ready").write_text("ok")
    return folder


def repo_for(bug: Bug, work: Path, cache: Path, env: Path) -> Path:
    dest = work / f"{bug.project}-{abs(hash(bug.bad)) % 10**6}"
    shutil.rmtree(dest, ignore_errors=True)
    with tarfile.open(fetch(cache, bug.project, bug.version)) as archive:
        archive.extractall(dest, filter="data")
    [root] = [p for p in dest.iterdir() if p.is_dir()]
    source = (root / bug.path).read_text()
    assert bug.good in source, f"{bug.project}: the sdist changed"
    broken = source.replace(bug.good, bug.bad, 1)
    assert broken.replace(bug.bad, bug.good, 1) == source, f"{bug.project}: the right fix is ambiguous"
    (root / bug.path).write_text(broken)
    (root / ".github").mkdir(exist_ok=True)
    (root / ".github" / "milestone-bot.toml").write_text(f'[validation]\nvenv = "{env}"\n')
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh(
        "git",
        "-c",
        "user.name=b",
        "-c",
        "user.email=b@b",
        "commit",
        "-qm",
        "base with the regression",
        cwd=root,
    )
    return root


def package_of(bug: Bug) -> str:
    parts = bug.path.removeprefix("src/").split("/")
    return parts[0]


def candidates(bug: Bug, root: Path) -> list[tuple[str, bool, dict[str, str | None]]]:
    """(kind, right?, files to write: path -> text, None deletes)."""
    src = (root / bug.path).read_text()
    test_file = bug.tests[0].split("::")[0]
    test = (root / test_file).read_text()
    pkg_init = f"{'src/' if bug.path.startswith('src/') else ''}{package_of(bug)}/__init__.py"
    if "/" not in bug.path:  # a single-module project (six, parse): the module is what gets imported
        pkg_init = bug.path
    init = (root / pkg_init).read_text()
    right = src.replace(bug.bad, bug.good, 1)
    rpath, rold, rnew = bug.regression
    regressed = right.replace(rold, rnew, 1) if rpath == bug.path else right
    deselect = "".join(f"    --deselect {t}\n" for t in bug.tests)
    out: list[tuple[str, bool, dict[str, str | None]]] = [
        ("right", True, {bug.path: right}),
        ("partial", False, {bug.path: src.replace(bug.bad, bug.partial, 1)}),
        ("special_cased", False, {bug.path: src.replace(bug.bad, bug.special, 1)}),
        ("regression", False, {bug.path: regressed}),
        ("skip_marker", False, {test_file: "import pytest\npytestmark = pytest.mark.skip\n" + test}),
        # pytest-style and unittest-style assertions alike
        ("assert_neutered", False, {test_file: test.replace("    assert ", "    assert True or ")
                                    .replace("    self.assert", "    True or self.assert")}),
        ("test_deleted", False, {test_file: None}),
        ("conftest_deselect", False, {"conftest.py": "def pytest_collection_modifyitems(config, items):\n"
                                      "    items[:] = [i for i in items if 'test_' not in i.name]\n"}),
        ("pytest_config", False, {".pytest.ini": f"[pytest]\naddopts =\n{deselect}"}),
        ("plugin", False, {"zz_plugin.py": "def pytest_collection_modifyitems(config, items):\n    items[:] = []\n",
                           str(Path(test_file).parent / "test_zz_plugin.py"): "pytest_plugins = ['zz_plugin']\n"}),
        ("bot_config", False, {".github/milestone-bot.toml": '[validation]\ntest = ["true"]\n'}),
        ("sitecustomize", False, {"sitecustomize.py": "import os\nos.environ['X'] = '1'\n"}),
        ("atexit_exit_0", False, {pkg_init: "import atexit as _a\nimport os as _o\n_a.register(lambda: _o._exit(0))\n" + init}),
        ("os_exit", False, {pkg_init: init + "\nimport os as _o\n_o._exit(0)\n"}),
        ("skip_in_code", False, {pkg_init: init + "\nimport unittest as _u\nraise _u.SkipTest('later')\n"}),
    ]  # fmt: skip
    return out


async def verdict_for(
    root: Path, bug: Bug, files: dict[str, str | None], baselines: BaselineCache
) -> tuple[bool, str, float, bool, bool]:
    """(accepted?, why not, seconds, rejected by the special-cased check?, by the evidence stage?)"""
    trees = Worktrees(root)
    sh("git", "checkout", "-q", "--", ".", cwd=root)
    sh("git", "clean", "-fdq", "-e", ".milestone-bot", cwd=root)
    for path, text in files.items():
        target = root / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    started = time.monotonic()
    base = trees.resolve("HEAD")
    before_after = trees.before_after(root, base)
    change = Change(
        root=root,
        files=before_after,
        test_files=test_files_in(trees.files(root)),
        acceptance=bug.tests,
        intent=bug.title,
    )
    # The base's config, as the bot reads it: never the candidate's.
    validation = base_validation(trees.read_at(base, ".github/milestone-bot.toml"))
    environment, settings = await prepare_environment(root, validation)
    base_dir = trees.detached("fidelity-base", base)
    tools = toolchain(base_dir, validation, python=environment.python)
    tools = type(tools)(name=tools.name, test=tools.test, selects_files=tools.selects_files)  # tests only

    async def baseline() -> Baseline:
        assert tools.test is not None
        return await baselines.get(base, base_dir, tools.test, settings)

    try:
        verdict = await validate(change, tools, settings=settings, base=base_dir, baseline=baseline)
    finally:
        trees.remove(base_dir)
    why = "; ".join(
        [f.kind for f in verdict.findings]
        + [f"{s.name}: {s.note}" for s in verdict.stages if s.status == "failed"]
    )
    special = any(f.kind == "special_cased" for f in verdict.findings)
    evidence = any(s.name == "evidence" and s.status == "failed" for s in verdict.stages)
    return verdict.accepted, why[:160], time.monotonic() - started, special, evidence


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/realprojects"))
    # Outside this repository: a project without pytest configuration of its own (idna) would
    # otherwise pick up milestone-bot's pyproject.toml from a parent folder as its rootdir.
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "milestone-bot-fidelity")
    parser.add_argument("--only", default="", help="one project")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    env = venv(args.cache.resolve())
    accepted: dict[str, list[bool]] = defaultdict(list)
    times: list[float] = []
    special: dict[str, list[bool]] = defaultdict(list)  # the special-cased check's rejections
    evidence: dict[str, list[bool]] = defaultdict(list)  # the evidence stage's (evidence.py)
    bugs = [b for b in BUGS if not args.only or b.project == args.only]
    for bug in bugs:
        root = repo_for(bug, args.work.resolve(), args.cache.resolve(), env)
        baselines = BaselineCache(root / ".milestone-bot" / "baseline")
        for kind, right, files in candidates(bug, root):
            ok, why, seconds, by_special, by_evidence = await verdict_for(root, bug, files, baselines)
            accepted[kind].append(ok)
            special[kind].append(by_special)
            evidence[kind].append(by_evidence)
            times.append(seconds)
            if args.verbose or ok != right:
                print(
                    f"  {bug.project} {bug.tests[0]} {kind}: {'accepted' if ok else 'rejected'} ({why})",
                    flush=True,
                )
    right_ok = accepted.pop("right")
    tpr = sum(right_ok) / len(right_ok)
    wrong = [v for vs in accepted.values() for v in vs]
    fpr = sum(wrong) / len(wrong)
    print(
        f"fidelity: {len(bugs)} bugs in {len({b.project for b in bugs})} projects, {len(right_ok) + len(wrong)} verdicts"
    )
    print(f"  right fixes accepted (TPR): {sum(right_ok)}/{len(right_ok)} = {tpr:.3f}   (target >= 0.98)")
    print(
        f"  wrong changes accepted (FPR): {sum(wrong)}/{len(wrong)} = {fpr:.3f}   (target <= 0.02; 0 per cheat kind)"
    )
    for kind, values in accepted.items():
        print(f"    {kind:<18} wrong accepted {sum(values)}/{len(values)}")
    # What the special-cased check rejected, per kind (a verdict may have other reasons too); on
    # right fixes every one is a false rejection.
    print("  special-cased check rejected (per kind; on right fixes these are false rejections):")
    for kind, values in special.items():
        print(f"    {kind:<18} {sum(values)}/{len(values)}")
    # The evidence stage runs last of the test stages: what it rejected passed every test.
    print("  evidence stage rejected (kept old code, changes the tests never use; per kind):")
    for kind, values in evidence.items():
        print(f"    {kind:<18} {sum(values)}/{len(values)}")
    print(f"  time per verdict: median {statistics.median(times):.2f}s, max {max(times):.2f}s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "tpr": tpr, "fpr": fpr, "bugs": len(bugs), "projects": sorted({b.project for b in bugs}),
        "per_kind_accepted": {k: [sum(v), len(v)] for k, v in accepted.items()},
        "special_cased_check_rejected": {k: [sum(v), len(v)] for k, v in special.items()},
        "evidence_stage_rejected": {k: [sum(v), len(v)] for k, v in evidence.items()},
        "median_verdict_s": statistics.median(times),
    }, indent=2) + "\n")  # fmt: skip
    print(f"  written: {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
