from __future__ import annotations

from bot.validation import parsers
from bot.validation.guard import check_change

TEST = """import calc.ops


def test_add():
    assert calc.ops.add(2, 3) == 5


def test_mul():
    assert calc.ops.mul(2, 3) == 6
"""


def kinds(files: dict[str, tuple[str | None, str | None]], **kw: object) -> list[str]:
    return [f.kind for f in check_change(files, **kw)]  # type: ignore[arg-type]


def test_clean_change_has_no_findings() -> None:
    added = TEST + "\n\ndef test_sub():\n    assert calc.ops.sub(3, 1) == 2\n"
    assert kinds({"calc/ops.py": ("x = 1\n", "x = 2\n"), "tests/test_ops.py": (TEST, added)}) == []


def test_cheats_are_found() -> None:
    assert kinds({"tests/test_ops.py": (TEST, None)}) == ["test_deleted"]
    assert kinds({"tests/test_ops.py": (TEST, TEST.split("\n\n\ndef test_mul")[0] + "\n")}) == [
        "tests_removed"
    ]
    skipped = TEST.replace("def test_mul", "@pytest.mark.skip(reason='later')\ndef test_mul")
    assert kinds({"tests/test_ops.py": (TEST, skipped)}) == ["skip_added"]
    xfail = TEST.replace("    assert calc.ops.mul", "    pytest.xfail('x')\n    assert calc.ops.mul")
    assert kinds({"tests/test_ops.py": (TEST, xfail)}) == ["skip_added"]
    loosened = TEST.replace("assert calc.ops.add(2, 3) == 5", "assert calc.ops.add(2, 3)")
    found = check_change({"tests/test_ops.py": (TEST, loosened)})
    assert [f.kind for f in found] == ["assertions_weakened"]
    assert found[0].detail == "test_add: assertions 1 -> 1, comparisons 1 -> 0"
    assert kinds({".github/workflows/ci.yml": ("on: push\n", "on: []\n")}) == ["protected"]
    assert kinds({".gitlab-ci.yml": ("a: 1\n", "a: 2\n")}) == ["ci_edited"]
    assert kinds({"pytest.ini": ("[pytest]\n", "[pytest]\naddopts = -k 'not slow'\n")}) == ["protected"]
    before = '[project]\nname = "x"\n[tool.ruff]\nline-length = 100\n'
    assert kinds({"pyproject.toml": (before, before.replace("100", "300"))}) == ["config_edited"]
    assert kinds({"pyproject.toml": (before, before.replace('"x"', '"y"'))}) == []


def test_other_languages_skip_markers() -> None:
    rust = "#[test]\nfn it_adds() { assert_eq!(add(1, 2), 3); }\n"
    assert kinds({"src/lib_test.rs": (rust, rust.replace("#[test]", "#[test]\n#[ignore]"))}) == ["skip_added"]
    js = "test('adds', () => { expect(add(1, 2)).toBe(3) })\n"
    assert kinds({"src/add.test.js": (js, js.replace("test(", "test.skip("))}) == [
        "tests_removed",
        "skip_added",
    ]


def test_allowed_files_and_allowances() -> None:
    files = {"calc/ops.py": ("a\n", "b\n"), "docs/x.md": ("a\n", "b\n")}
    assert kinds(files, allowed=("calc/*",)) == ["outside_allowed"]
    assert kinds({"tests/test_ops.py": (TEST, None)}, allow=frozenset({"test_deleted"})) == []


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" tests="3">
<testcase classname="tests.test_ops" name="test_add" file="tests/test_ops.py" line="3" time="0.001" />
<testcase classname="tests.test_ops" name="test_sub" file="tests/test_ops.py" line="7" time="0.001">
<failure message="AttributeError: module 'calc.ops' has no attribute 'sub'">def test_sub():
&gt;       assert calc.ops.sub(3, 1) == 2
E       AttributeError: module 'calc.ops' has no attribute 'sub'

tests/test_ops.py:9: AttributeError</failure></testcase>
<testcase classname="tests.test_new" name="tests.test_new" file="tests/test_new.py" time="0.0">
<error message="collection failure">ImportError while importing test module
E   ModuleNotFoundError: No module named 'nope'</error></testcase>
</testsuite></testsuites>"""


def test_junit_report_parses_outcomes_and_error_types() -> None:
    cases = parsers.parse_junit(JUNIT)
    assert [(c.id, c.outcome) for c in cases] == [
        ("tests/test_ops.py::test_add", "passed"),
        ("tests/test_ops.py::test_sub", "failed"),
        ("tests/test_new.py::tests.test_new", "error"),
    ]
    assert cases[1].error_type == "AttributeError" and cases[1].line == 9
    assert cases[2].error_type == "ModuleNotFoundError"
    [first, _] = parsers.junit_diagnostics(cases)
    assert (
        first.render()
        == "tests/test_ops.py:9 tests/test_ops.py::test_sub: AttributeError: module 'calc.ops' has no attribute 'sub'"
    )


def test_tool_outputs_parse() -> None:
    ruff = '[{"code": "F401", "message": "`os` imported but unused", "filename": "/r/calc/ops.py", "location": {"row": 1, "column": 8}}]'
    assert parsers.parse_ruff_json(ruff)[0].render() == "/r/calc/ops.py:1 F401: `os` imported but unused"
    mypy = 'calc/ops.py:4: error: Incompatible return value type (got "str", expected "int")  [return-value]\nFound 1 error'
    [d] = parsers.parse_mypy(mypy)
    assert (d.file, d.line, d.code) == ("calc/ops.py", 4, "return-value")
    tsc = "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'."
    assert parsers.parse_tsc(tsc)[0].code == "TS2322"
    eslint = '[{"filePath": "/r/a.js", "messages": [{"ruleId": "no-unused-vars", "line": 2, "message": "x is unused"}]}]'
    assert parsers.parse_eslint_json(eslint)[0].render() == "/r/a.js:2 no-unused-vars: x is unused"
    cargo = (
        '{"reason":"compiler-message","message":{"level":"error","message":"mismatched types","code":{"code":"E0308"},'
        '"spans":[{"file_name":"src/lib.rs","line_start":3,"is_primary":true}]}}\n{"reason":"build-finished","success":false}'
    )
    assert parsers.parse_cargo_json(cargo)[0].render() == "src/lib.rs:3 E0308: mismatched types"
    cargo_test = (
        "running 1 test\n---- tests::it_subs stdout ----\n\nthread 'tests::it_subs' panicked at src/lib.rs:12:9:\n"
        "assertion `left == right` failed\n  left: 4\n right: 2\n\nfailures:\n"
    )
    [t] = parsers.parse_cargo_test(cargo_test)
    assert (t.test_id, t.file, t.line) == ("tests::it_subs", "src/lib.rs", 12)
    assert parsers.parse_go("./calc.go:7:2: undefined: foo\n")[0].message == "undefined: foo"
    assert parsers.tail("a\nb\n\nc")[0].message == "a\nb\nc"
