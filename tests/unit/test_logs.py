"""Failures from real-looking logs of each tool."""

from __future__ import annotations

from bot.context.logs import Frame, clean_log, extract_failures

PYTEST = """\
2026-11-20T10:00:00.0000000Z ##[group]Run python -m pytest
2026-11-20T10:00:01.5000000Z ============================= test session starts ==============================
2026-11-20T10:00:02.0000000Z =================================== FAILURES ===================================
2026-11-20T10:00:02.0000000Z ___________________________ TestMerge.test_merge_with ___________________________
2026-11-20T10:00:02.0000000Z
2026-11-20T10:00:02.0000000Z self = <tests.test_dicttoolz.TestMerge object at 0x7f>
2026-11-20T10:00:02.0000000Z
2026-11-20T10:00:02.0000000Z     def test_merge_with(self):
2026-11-20T10:00:02.0000000Z >       assert merge_with(sum, {1: 1}, {1: 2}) == {1: 3}
2026-11-20T10:00:02.0000000Z
2026-11-20T10:00:02.0000000Z tests/test_dicttoolz.py:41:
2026-11-20T10:00:02.0000000Z _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _
2026-11-20T10:00:02.0000000Z toolz/dicttoolz.py:70: in merge_with
2026-11-20T10:00:02.0000000Z     result[k] = func(v)
2026-11-20T10:00:02.0000000Z E   AssertionError: assert {1: 1} == {1: 3}
2026-11-20T10:00:02.0000000Z ##[error]Process completed with exit code 1.
2026-11-20T10:00:02.0000000Z =========================== short test summary info ============================
2026-11-20T10:00:02.0000000Z FAILED tests/test_dicttoolz.py::TestMerge::test_merge_with - AssertionError: assert {1: 1} == {1: 3}
2026-11-20T10:00:02.0000000Z ========================= 1 failed, 88 passed in 0.52s =========================
"""

UNITTEST = """\
test_parse (tests.test_dates.TestParse.test_parse) ... FAIL

======================================================================
FAIL: test_parse (tests.test_dates.TestParse)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/repo/tests/test_dates.py", line 12, in test_parse
    self.assertEqual(parse("2024-01-02").day, 2)
  File "/repo/dates/parser.py", line 33, in parse
    return _build(parts)
AssertionError: 3 != 2

----------------------------------------------------------------------
Ran 4 tests in 0.003s

FAILED (failures=1)
"""

CARGO = """\
running 2 tests
test tests::it_adds ... ok
test tests::it_subs ... FAILED

failures:

---- tests::it_subs stdout ----

thread 'tests::it_subs' panicked at src/lib.rs:12:9:
assertion `left == right` failed
  left: 4
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

failures:
    tests::it_subs

test result: FAILED. 1 passed; 1 failed; 0 ignored
"""

RUSTC = """\
error[E0308]: mismatched types
 --> src/lib.rs:3:5
  |
3 |     "x"
  |     ^^^ expected `i64`, found `&str`
"""

JEST = """\
FAIL src/sum.test.js
  ● math › adds two numbers

    expect(received).toBe(expected) // Object.is equality

    Expected: 5
    Received: 6

      3 | test('adds two numbers', () => {
    > 4 |   expect(sum(2, 3)).toBe(5);
        |                     ^

      at Object.toBe (src/sum.test.js:4:21)
      at sum (src/sum.js:2:10)
"""

VITEST = """\
 FAIL  src/sum.test.ts > math > adds
AssertionError: expected 6 to be 5 // Object.is equality
 ❯ src/sum.test.ts:5:23
"""

TSC = """\
src/index.ts(7,3): error TS2322: Type 'string' is not assignable to type 'number'.
src/util.ts:4:10 - error TS2304: Cannot find name 'foo'.
"""

ESLINT = """\
/home/runner/work/app/src/api.js
   3:7   error  'unused' is assigned a value but never used  no-unused-vars
  10:1   error  Unexpected console statement                 no-console

✖ 2 problems (2 errors, 0 warnings)
"""

GO = """\
=== RUN   TestAdd
    calc_test.go:8: Add(2, 3) = 6; want 5
--- FAIL: TestAdd (0.00s)
=== RUN   TestMul
--- PASS: TestMul (0.00s)
FAIL
FAIL	example.com/calc	0.002s
./calc.go:7:2: undefined: foo
"""


def test_clean_log_strips_actions_decorations() -> None:
    cleaned = clean_log(PYTEST)
    assert "2026-11-20T" not in cleaned and "##[group]" not in cleaned and "##[error]" not in cleaned
    assert clean_log("\x1b[31mFAILED\x1b[0m x") == "FAILED x"


def test_pytest() -> None:
    [f] = extract_failures(PYTEST)
    assert f.tool == "pytest"
    assert f.test_id == "tests/test_dicttoolz.py::TestMerge::test_merge_with"
    assert f.message == "AssertionError: assert {1: 1} == {1: 3}"
    assert Frame("toolz/dicttoolz.py", 70, "merge_with") in f.frames


def test_unittest() -> None:
    [f] = extract_failures(UNITTEST)
    assert (f.tool, f.test_id, f.message) == (
        "unittest",
        "tests.test_dates.TestParse.test_parse",
        "AssertionError: 3 != 2",
    )
    assert f.frames[-1] == Frame("/repo/dates/parser.py", 33, "parse")


def test_cargo_and_rustc() -> None:
    [f] = extract_failures(CARGO)
    assert (f.test_id, f.message, f.frames) == (
        "tests::it_subs",
        "assertion `left == right` failed",
        (Frame("src/lib.rs", 12),),
    )
    [r] = extract_failures(RUSTC)
    assert (r.tool, r.message, r.frames) == ("rustc", "E0308: mismatched types", (Frame("src/lib.rs", 3),))


def test_jest_and_vitest() -> None:
    [j] = extract_failures(JEST)
    assert (j.tool, j.test_id) == ("jest", "math › adds two numbers")
    assert j.message.startswith("expect(received).toBe(expected)")
    assert Frame("src/sum.js", 2, "sum") in j.frames
    [v] = extract_failures(VITEST)
    assert (v.test_id, v.message, v.frames) == (
        "src/sum.test.ts > math > adds",
        "AssertionError: expected 6 to be 5 // Object.is equality",
        (Frame("src/sum.test.ts", 5),),
    )


def test_tsc_and_eslint() -> None:
    found = extract_failures(TSC)
    assert [(f.message, f.frames[0]) for f in found] == [
        ("TS2322: Type 'string' is not assignable to type 'number'.", Frame("src/index.ts", 7)),
        ("TS2304: Cannot find name 'foo'.", Frame("src/util.ts", 4)),
    ]
    lint = extract_failures(ESLINT)
    assert [f.message for f in lint] == [
        "no-unused-vars: 'unused' is assigned a value but never used",
        "no-console: Unexpected console statement",
    ]
    assert lint[1].frames == (Frame("/home/runner/work/app/src/api.js", 10),)


def test_go() -> None:
    found = extract_failures(GO)
    assert [(f.tool, f.test_id, f.message) for f in found] == [
        ("go test", "TestAdd", "Add(2, 3) = 6; want 5"),
        ("go build", "", "undefined: foo"),
    ]
    assert found[0].frames == (Frame("calc_test.go", 8),)


def test_plain_traceback_and_nothing() -> None:
    text = 'Traceback (most recent call last):\n  File "app/main.py", line 3, in <module>\n    run()\nValueError: bad\n'
    [f] = extract_failures(text)
    assert (f.tool, f.message, f.frames[0].file) == ("python", "ValueError: bad", "app/main.py")
    assert extract_failures("all good\n") == []


SUBTESTS = """\
=================================== FAILURES ===================================
______________________ ArgMinArgMaxTests.test_basic (i=4) ______________________

    def test_basic(self):
>               self.assertEqual(mi.argmin(iterable), expected_min)

tests/test_more.py:6790: 
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

>       return min(enumerate(iterable), key=itemgetter(1))[0]
E       TypeError: 'NoneType' object is not callable

more_itertools/more.py:5351: TypeError
=========================== short test summary info ============================
SUBFAILED(i=4) tests/test_more.py::ArgMinArgMaxTests::test_basic - TypeError:...
"""


def test_pytest_subtests_and_labelled_sections() -> None:
    [f] = extract_failures(SUBTESTS)
    assert f.test_id == "tests/test_more.py::ArgMinArgMaxTests::test_basic"
    assert f.frames == (Frame("tests/test_more.py", 6790), Frame("more_itertools/more.py", 5351))


def test_pytest_sections_without_a_summary() -> None:
    cut = SUBTESTS.split("=========================== short")[0]
    [f] = extract_failures(cut)
    assert f.test_id == "ArgMinArgMaxTests.test_basic"
    assert f.message == "TypeError: 'NoneType' object is not callable"


RED_BUILD = (
    "\x1b[31m=================================== FAILURES ===================================\x1b[0m\n"
    "\x1b[31m\x1b[1m_________________________________ test_plural __________________________________\x1b[0m\n"
    "\n"
    "    def test_plural():\n"
    ">       assert plural('glass') == 'glasses'\n"
    "\n"
    "tests/test_words.py:7: \n"
    "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _\n"
    "\n"
    "    def plural(word):\n"
    ">       return singular(word) + 'es'\n"
    "\n"
    "words/core.py:12: in plural\n"
    "    return singular(word) + 'es'\n"
    "/usr/lib/python3/site-packages/helper.py:3: in helper\n"
    "    x = 1\n"
    "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _\n"
    "\n"
    "    def singular(word):\n"
    ">       assert word[:-1] == 'glass'\n"
    "\x1b[1m\x1b[31mE       AssertionError: assert 'glas' == 'glass'\x1b[0m\n"
    "E         \n"
    "E         - glass\n"
    "E         ?     -\n"
    "E         + glas\n"
    "\n"
    "words/core.py:5: AssertionError\n"
    "=========================== short test summary info ============================\n"
    "FAILED tests/test_words.py::test_plural - AssertionError: as...\n"
    "1 failed in 0.02s\n"
)


def test_red_build_failure_has_the_full_assertion_and_project_frames() -> None:
    (failure,) = extract_failures(RED_BUILD)
    assert failure.test_id == "tests/test_words.py::test_plural"
    assert failure.message == "AssertionError: assert 'glas' == 'glass'"  # not pytest's "as..."
    assert failure.details == ("- glass", "?     -", "+ glas")
    assert [(f.file, f.line) for f in failure.project_frames()] == [
        ("tests/test_words.py", 7),
        ("words/core.py", 12),
        ("words/core.py", 5),
    ]
    rendered = failure.render()
    assert "\x1b" not in rendered and "site-packages" not in rendered
    assert "words/core.py:12 in plural" in rendered and "+ glas" in rendered


def test_rendered_failures_read_back() -> None:
    """A red-build item's description is its failures, rendered: they parse back with frames."""
    (failure,) = extract_failures(RED_BUILD)
    (back,) = extract_failures(failure.render())
    assert back.test_id == failure.test_id and back.message == failure.message
    assert back.details == failure.details
    assert [(f.file, f.line, f.function) for f in back.frames] == [
        (f.file, f.line, f.function) for f in failure.project_frames()
    ]
