"""The special-cased input check, pure: one case per shape it reads, and each exemption that keeps a
right fix about a genuinely special value from being refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.validation.special_cases import acceptance_values, special_cased_in, special_cases

TESTS = """import pytest

LONG = "a" * 63
CASES = [("x--y", True), ("inf", 1.5)]


def test_last():
    assert last("ABCDE") == "E"
    assert last([1, 2, 3]) == 3


def test_length():
    assert ok(LONG)
    assert not ok(b"a" * 64)


@pytest.mark.parametrize(("text", "want"), CASES)
def test_cases(text, want):
    assert f(text) == want


def test_words():
    assert parse("a 100% b") == 1
    assert parse("12:15 AM") == 0


def test_inf():
    assert parse_float("inf") == float("inf")


class TestKinds:
    def test_kind(self):
        assert kind("\\x03") == 3


if True:
    def test_nested():
        assert kind("zz") == 1
"""
BEFORE = "def last(seq):\n    return seq[-2]\n"
IDS = [f"tests/test_x.py::{n}" for n in ("test_last", "test_length", "test_cases", "test_words")]


def found(after: str, *, before: str = BEFORE, ids: list[str] = IDS, intent: str = "") -> list[str]:
    values = acceptance_values({"tests/test_x.py": TESTS}, ids)
    return [f.detail for f in special_cases({"pkg/m.py": (before, after)}, values, intent=intent)]


@pytest.mark.parametrize(
    "after",
    [
        "def last(seq):\n    if seq == 'ABCDE':\n        return 'E'\n    return seq[-2]\n",
        "def last(seq):\n    return seq[-1] if seq != 'ABCDE' else 'E'\n",
        "def last(seq):\n    if seq in ('ABCDE',):\n        return 'E'\n    return seq[-2]\n",
        "def last(seq):\n    return seq[-2] if seq not in ['ABCDE'] else 'E'\n",
        "def last(seq):\n    if seq is 'ABCDE':\n        return 'E'\n    return seq[-2]\n",
        "def last(seq):\n    match seq:\n        case 'ABCDE':\n            return 'E'\n    return seq[-2]\n",
        "def last(seq):\n    return {'ABCDE': 'E'}.get(seq) or seq[-2]\n",
        "def last(seq):\n    return {'ABCDE': 'E'}[seq]\n",
        "def last(seq):\n    return 'E' if seq.startswith('ABCDE') else seq[-2]\n",
        "def last(seq):\n    return 'E' if seq.endswith(('ABCDE',)) else seq[-2]\n",
        "def last(seq):\n    return 3 if seq == [1, 2, 3] else seq[-2]\n",
    ],
    ids=["eq", "ne", "in", "not_in", "is", "match", "dict_get", "dict_subscript", "startswith",
         "endswith", "list"],
)  # fmt: skip
def test_each_shape_is_found(after: str) -> None:
    [detail] = found(after)
    assert "special-cased input at line" in detail and "test_last" in detail, detail


def test_the_reason_names_the_line_the_expression_and_the_test() -> None:
    [detail] = found("def last(seq):\n    if seq == 'ABCDE':\n        return 'E'\n    return seq[-2]\n")
    assert detail == (
        "special-cased input at line 2: `seq == 'ABCDE'` recognises 'ABCDE', a value test_last uses, "
        "instead of handling its kind"
    )


def test_folded_constants_module_constants_parametrize_and_bytes() -> None:
    assert found("def ok(label):\n    return label not in ('a' * 63,)\n")  # LONG, a module constant
    assert found("def ok(label):\n    return label == 'a' * 64\n")  # b"a" * 64 in the test: bytes as latin-1
    assert found("def f(text):\n    return 1.5 if text == 'x--y' else 0\n")  # a parametrize list
    assert found("def parse(s):\n    return {'100%': 1}.get(s)\n")  # a word of a test string with a digit
    assert found("def parse(s, M):\n    return 0 if M == 15 else 12\n")  # a number inside a test string
    assert not found("def ok(label):\n    return label == 'a' * 10**9\n")  # too long to build: not folded


def test_unittest_methods_and_tests_under_if_are_read() -> None:
    ids = ["tests/test_x.py::TestKinds::test_kind", "tests/test_x.py::test_nested"]
    assert found("def kind(s):\n    return 3 if s[:1] == b'\\x03' else 0\n", ids=ids)
    assert found("def kind(s):\n    return s == 'zz'\n", ids=ids)


def test_trivial_values_are_not_special() -> None:
    after = "def last(seq):\n    if seq == '' or seq is None or seq == 1 or seq == '-':\n        return seq\n"
    assert found(after) == []
    assert found("def last(seq):\n    return 2 if seq == () else 3\n") == []


def test_a_value_the_code_held_before_is_not_new() -> None:
    before = "MAGIC = 'ABCDE'\n\n\ndef last(seq):\n    return seq[-2]\n"
    assert found("MAGIC = 'ABCDE'\n\n\ndef last(seq):\n    return 'E' if seq == MAGIC or seq == 'ABCDE' else seq[-1]\n",
                 before=before) == []  # fmt: skip


def test_a_value_only_another_function_held_is_new_to_the_changed_one() -> None:
    """``n == 2`` elsewhere in the module does not make ``len(seq) == 3`` in ``last`` known; a
    module constant does."""
    other = "def other(n):\n    return n == 3\n\n\n"
    changed = "def last(seq):\n    return 3 if len(seq) == 3 else seq[-2]\n"
    assert found(other + changed, before=other + BEFORE)
    assert found("LIMIT = 3\n\n\n" + changed, before="LIMIT = 3\n\n\n" + BEFORE) == []


def test_a_value_the_item_or_its_test_names_is_not_refused() -> None:
    after = "def parse_float(s):\n    if s == 'inf':\n        return float('inf')\n    return float(s)\n"
    assert found(after, ids=["tests/test_x.py::test_cases"])  # 'inf' is a parametrize value...
    assert found(after, ids=["tests/test_x.py::test_inf"]) == []  # ...test_inf names it
    assert found(after, ids=["tests/test_x.py::test_cases"], intent="Parse 'inf' as infinity") == []
    code_point = "def kind(s):\n    return 3 if s == '\\x03' else 0\n"
    assert found(code_point, ids=["tests/test_x.py::TestKinds::test_kind"], intent="U+0003 is a kind") != []
    assert found(code_point.replace("\\x03", "\\u0300"), ids=["tests/test_x.py::test_cases"]) == []


def test_a_red_builds_quoted_failure_names_nothing() -> None:
    """A red-build item's title and description quote the failure, with the test's own values."""
    intent = (
        "AssertionError: assert 'D' == 'E' at pkg/m.py:2 (tests/test_x.py::test_last)\n"
        "[pytest] tests/test_x.py::test_last: AssertionError: assert 'D' == 'E'\n"
        "    where 'D' = last('ABCDE')"
    )
    assert found("def last(seq):\n    return 'E' if seq == 'ABCDE' else seq[-2]\n", intent=intent)


def test_a_table_the_test_samples_and_words_of_letters_are_not_special_cases() -> None:
    table = "def last(seq):\n    return {'ABCDE': 'E', 'XYZ': 'Z', 'QRS': 'S'}.get(seq)\n"
    assert found(table) == []
    assert found("def parse(s, am):\n    return 0 if am == 'AM' else 12\n") == []  # vocabulary, not data


def test_test_files_and_new_modules_of_a_tests_first_item_are_not_read() -> None:
    values = acceptance_values({"tests/test_x.py": TESTS}, IDS)
    special = "def last(seq):\n    return 'E' if seq == 'ABCDE' else seq[-2]\n"
    assert special_cases({"tests/helper.py": (BEFORE, special)}, values, is_test=["tests/helper.py"]) == []
    assert special_cases({"pkg/new.py": (None, special)}, values, new_files=False) == []
    assert special_cases({"pkg/new.py": (None, special)}, values, new_files=True) != []


def test_special_cased_in_reads_the_tests_from_the_worktree(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(TESTS)
    special = "def last(seq):\n    return 'E' if seq == 'ABCDE' else seq[-2]\n"
    files = {"pkg/m.py": (BEFORE, special), "tests/test_x.py": (TESTS, TESTS)}
    [finding] = special_cased_in(tmp_path, files, acceptance=IDS)
    assert finding.kind == "special_cased" and finding.path == "pkg/m.py"
    assert finding.render().endswith("(special_cased)")
    assert special_cased_in(tmp_path, files, acceptance=()) == []
    whole_file = special_cased_in(tmp_path, files, acceptance=["tests/test_x.py"], red_build=False)
    assert [f.kind for f in whole_file] == ["special_cased"]


async def test_validate_rejects_it_before_running_anything(tmp_path: Path) -> None:
    from bot.validation.detect import Toolchain
    from bot.validation.validate import Change, validate

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(TESTS)
    special = "def last(seq):\n    return 'E' if seq == 'ABCDE' else seq[-2]\n"
    change = Change(root=tmp_path, files={"pkg/m.py": (BEFORE, special)}, acceptance=tuple(IDS))
    verdict = await validate(change, Toolchain(name="none"))
    assert not verdict.accepted and verdict.stages == ()
    assert "`seq == 'ABCDE'` recognises 'ABCDE'" in verdict.feedback()
    allowed = Change(
        root=tmp_path,
        files={"pkg/m.py": (BEFORE, special)},
        acceptance=tuple(IDS),
        allow=frozenset({"special_cased"}),
    )
    assert not (await validate(allowed, Toolchain(name="none"))).findings
    named = Change(
        root=tmp_path,
        files={"pkg/m.py": (BEFORE, special)},
        acceptance=tuple(IDS),
        intent="'ABCDE' is special",
    )
    assert not (await validate(named, Toolchain(name="none"))).findings
