"""evidence.py: kept old code and changed definitions found on the AST; judged from a trace."""

from __future__ import annotations

from bot.validation.evidence import Plan, judge, plan
from bot.validation.trace import Trace

FLOOR = "def floor(x, options):\n    i = find(x, options)\n    return options[i - 0]\n"
OTHER = "\n\ndef ceil(x, options):\n    return options[0]\n"


def one(before: str, after: str, path: str = "pkg/mod.py") -> Plan:
    return plan({path: (before, after)})


def test_a_conditional_expression_keeping_the_old_code_is_found_with_its_span() -> None:
    after = FLOOR.replace("options[i - 0]", "options[i - 1] if i > 1 else options[i - 0]")
    found = one(FLOOR, after)
    [kept] = found.kept
    assert kept.code == "options[i - 0]" and kept.condition == "not (i > 1)" and kept.unit == "floor"
    line, col, end, end_col = kept.span
    text = after.splitlines()[line - 1]
    assert (line, end) == (3, 3) and text[col - 1 : end_col - 1] == "options[i - 0]"
    assert [u.name for u in found.units] == ["floor"]


def test_an_if_statement_keeping_the_old_statements_in_its_else_is_found() -> None:
    before = "def f(a, h):\n    if a == 'PM' and h == 12:\n        h = 0\n    return h\n"
    after = (
        "def f(a, h):\n    if a == 'AM' and h == 12:\n        h -= 12\n"
        "    elif a == 'PM' and h == 12:\n        h = 0\n    return h\n"
    )
    [kept] = one(before, after).kept
    assert kept.condition == "not (a == 'AM' and h == 12)" and kept.code.startswith("if a == 'PM'")
    assert kept.span[0] == 4  # the elif, which is the old if


def test_a_rewritten_expression_keeps_nothing() -> None:
    after = FLOOR.replace("options[i - 0]", "options[i - 1]")
    found = one(FLOOR, after)
    assert found.kept == () and [u.name for u in found.units] == ["floor"]


def test_a_condition_that_was_there_before_is_not_new() -> None:
    before = "def f(x):\n    return x[0] if x else None\n"
    after = "def f(x):\n    y = 1\n    return x[0] if x else None\n"
    assert one(before, after).kept == ()


def test_module_level_statements_are_units_with_the_names_they_define() -> None:
    before = "import struct\nif True:\n    pack = struct.Struct('>B').pack\n__all__ = ['pack']\n"
    after = "import struct\nif True:\n    pack = struct.Struct('>b').pack\n__all__ = ['pack', 'x']\n"
    [unit] = one(before, after).units
    assert unit.kind == "statement" and unit.names == frozenset({"pack"}) and unit.first == 3


def test_docstrings_comments_tests_and_unchanged_functions_are_not_units() -> None:
    before = FLOOR + OTHER
    after = FLOOR.replace("    i = find", '    """Doc."""\n    # why\n    i = find') + OTHER
    assert one(before, after).units == ()
    assert plan({"tests/test_mod.py": (FLOOR, FLOOR + OTHER)}).units == ()
    assert plan({"pkg/data.json": ("{}", "[]")}).units == ()


def test_methods_and_new_functions_are_units_by_qualified_name() -> None:
    before = "class A:\n    def m(self):\n        return 1\n"
    after = "class A:\n    def m(self):\n        return 2\n\n    def n(self):\n        return 3\n"
    assert [u.name for u in one(before, after).units] == ["A.m", "A.n"]


def _trace(spans: set[tuple[int, int, int, int]], accepted: dict[str, tuple[set[int], set[str]]]) -> Trace:
    path = "pkg/mod.py"
    return Trace(
        lines={path: {s[0] for s in spans}},
        spans={path: spans},
        acceptance={t: ({path: lines}, frozenset(names)) for t, (lines, names) in accepted.items()},
        runs=1,
    )


def test_kept_code_no_passing_test_ran_is_a_partial_fix() -> None:
    after = FLOOR.replace("options[i - 0]", "options[i - 1] if i > 1 else options[i - 0]")
    found = one(FLOOR, after)
    body = (3, 12, 3, 26)  # options[i - 1] ran; the kept branch (columns 41-55) did not
    trace = _trace({body}, {"t.py::test_floor": ({2, 3}, {"floor"})})
    [problem] = judge(found, trace, acceptance=("t.py::test_floor",))
    assert problem.kind == "kept_code" and problem.file == "pkg/mod.py" and problem.line == 3
    assert "keeps the old `options[i - 0]` for inputs where `not (i > 1)`" in problem.message
    ran_kept = _trace({body, (3, 41, 3, 55)}, {"t.py::test_floor": ({2, 3}, {"floor"})})
    assert judge(found, ran_kept, acceptance=("t.py::test_floor",)) == []


def test_a_changed_definition_no_acceptance_test_ran_is_refused_unless_the_item_names_it() -> None:
    before = FLOOR + OTHER
    after = FLOOR.replace("i - 0", "i - 1") + OTHER.replace("options[0]", "options[-1]")
    found = one(before, after)
    trace = _trace(set(), {"t.py::test_floor[1]": ({2, 3}, {"floor"})})
    [problem] = judge(found, trace, acceptance=("t.py::test_floor",))
    assert problem.kind == "untested_change" and "`ceil`" in problem.message
    assert "t.py::test_floor[1]" in problem.message and problem.line == 6
    assert judge(found, trace, acceptance=("t.py::test_floor",), intent="Fix floor; ceil too") == []
    # quoted failure output names nothing
    quoted = "Fix floor\n    ceil(1, [2])\nt.py::test_floor failed"
    assert len(judge(found, trace, acceptance=("t.py::test_floor",), intent=quoted)) == 1


def test_the_same_edit_made_in_a_definition_the_tests_run_is_proven_by_them() -> None:
    """A fix applied to a sibling too (floor and ceil had the same slip): not an untested change; a
    different edit beside it still is."""
    before = FLOOR + OTHER.replace("options[0]", "options[i - 0]")
    after = before.replace("options[i - 0]", "options[i - 1]")
    found = one(before, after)
    assert [u.edit for u in found.units] == [(("return options[i - 0]",), ("return options[i - 1]",))] * 2
    trace = _trace(set(), {"t.py::test_floor": ({2, 3}, {"floor"})})
    assert judge(found, trace, acceptance=("t.py::test_floor",)) == []
    different = before.replace("options[i - 0]", "options[i - 1]", 1).replace(
        "options[i - 0]", "options[i + 1]"
    )
    other = one(before, different)
    assert [p.kind for p in judge(other, trace, acceptance=("t.py::test_floor",))] == ["untested_change"]


def test_a_statement_counts_as_used_when_code_the_tests_ran_refers_to_its_names() -> None:
    before = "import struct\npack = struct.Struct('>B').pack\nunpack = struct.Struct('>B').unpack\n"
    after = before.replace("'>B').pack", "'>b').pack")
    found = one(before, after)
    uses = _trace(set(), {"t.py::test_pack": (set(), {"pack", "mod"})})
    assert judge(found, uses, acceptance=("t.py::test_pack",)) == []
    other = _trace(set(), {"t.py::test_unpack": (set(), {"unpack", "mod"})})
    [problem] = judge(found, other, acceptance=("t.py::test_unpack",))
    assert "`pack`" in problem.message and "uses" in problem.message


def test_a_file_no_test_ran_in_process_is_not_judged_when_a_test_started_a_process() -> None:
    """A CLI test runs the changed code in a subprocess, where no tracer is: not "untested"."""
    before = FLOOR + OTHER
    after = FLOOR.replace("i - 0", "i - 1") + OTHER.replace("options[0]", "options[-1]")
    found = plan(
        {
            "pkg/mod.py": (before, after),
            "pkg/cli.py": ("def main():\n    pass\n", "def main():\n    return 1\n"),
        }
    )
    trace = _trace(set(), {"t.py::test_cli": ({2, 3}, {"floor"})})
    assert {p.file for p in judge(found, trace, acceptance=("t.py::test_cli",))} == {
        "pkg/mod.py",
        "pkg/cli.py",
    }
    trace.spawning.add("t.py::test_cli")
    # pkg/mod.py ran in the test's process (ceil there is still unproven); pkg/cli.py did not
    assert {p.file for p in judge(found, trace, acceptance=("t.py::test_cli",))} == {"pkg/mod.py"}


def test_a_function_module_level_code_calls_or_applies_runs_at_import_and_counts_as_used() -> None:
    before = (
        "def _build():\n    return {1: 'a'}\n\n\nTABLE = _build()\n\n\n"
        "def deco(f):\n    return f\n\n\n@deco\ndef g():\n    return TABLE[1]\n"
    )
    after = before.replace("{1: 'a'}", "{1: 'b'}").replace("    return f\n", "    f.x = 1\n    return f\n")
    found = one(before, after)
    assert [(u.name, u.import_time) for u in found.units] == [("_build", True), ("deco", True)]
    trace = _trace(set(), {"t.py::test_g": ({14}, {"g"})})
    assert judge(found, trace, acceptance=("t.py::test_g",)) == []


def test_no_acceptance_test_in_the_trace_judges_no_definition() -> None:
    before = FLOOR + OTHER
    after = FLOOR.replace("i - 0", "i - 1") + OTHER.replace("options[0]", "options[-1]")
    assert judge(one(before, after), _trace(set(), {}), acceptance=("t.py::test_floor",)) == []


def test_without_columns_a_kept_branch_counts_as_run_when_its_line_ran() -> None:
    trace = Trace(columns=False, lines={"pkg/mod.py": {3}}, runs=1)
    assert trace.ran_in("pkg/mod.py", (3, 45, 3, 59)) and not trace.ran_in("pkg/mod.py", (4, 1, 4, 9))
