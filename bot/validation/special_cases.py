"""Special-cased inputs: a change that recognises the value a test passes instead of handling its kind.

A wrong fix can pass every test by comparing its input with the very value the failing test uses
(``if seq == 'ABCDE': return 'E'``). The project's suite cannot tell, because it only tries that
value. This check reads the change itself: a new equality or membership test (``==``, ``!=``,
``in``, ``not in``, ``is``, a ``match`` case, a dict literal used as a lookup table,
``str.startswith``/``endswith``) in changed non-test code whose constant operand (a literal, a
container of literals, or a constant expression such as ``'a' * 63``, folded with a size bound) is
a value the acceptance tests use, and that the changed function (or the module's top level) did
not hold before the change.

Not counted, so that a right fix about a genuinely special value is not refused: trivial values
(None, booleans, 0, 1, -1, empty strings and containers, one punctuation or space character); a
value the item names in its own words (its title or description, outside the failure output a red
build's item quotes) or in the failing test's name (``test_inf`` names ``inf``); a container whose
elements are not all test values (a real table the test samples). Files the change creates are
read only for red-build items: a tests-first item's new module has no "before" to special-case.
Pure but for ``read_tests`` and ``special_cased_in``, which read the tests from the worktree.
"""

from __future__ import annotations

import ast
import difflib
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.validation.guard import Finding, is_test_file

# ("s", text) for str and bytes (bytes read as latin-1, so b"a" * 63 is "a" * 63), ("n", number).
Key = tuple[str, object]
MAX_FOLD = 4096  # longest folded str/bytes/container: 'a' * 10**9 is not built
_NO = object()
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_LOOKUPS = ("get", "pop", "setdefault", "__getitem__")
_TRIVIAL_NUMBERS = (0, 1, -1)
_SEPARATORS = frozenset(string.punctuation + string.whitespace)
_DIGITS = re.compile(r"\d{2,}")
# Failure output a red build's item quotes (test ids, file:line frames, indented details): the
# test's own values are echoed there, so they name nothing.
_ECHO = re.compile(r"::|\.py:\d+|^ {4}|^\t|^\[\w+\]")


def fold(node: ast.AST) -> object:
    """The value of a constant expression, or ``_NO``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = fold(node.operand)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
        return _NO
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        return _binop(fold(node.left), node.op, fold(node.right))
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = [fold(e) for e in node.elts]
        return _NO if _NO in items or len(items) > MAX_FOLD else tuple(items)
    if isinstance(node, ast.Dict):
        keys = [fold(k) if k is not None else _NO for k in node.keys]
        return _NO if _NO in keys else tuple(keys)
    return _NO


def _binop(left: object, op: ast.operator, right: object) -> object:
    if left is _NO or right is _NO or isinstance(left, bool) or isinstance(right, bool):
        return _NO
    if isinstance(op, ast.Add):
        if isinstance(left, str) and isinstance(right, str):
            return left + right if len(left) + len(right) <= MAX_FOLD else _NO
        if isinstance(left, bytes) and isinstance(right, bytes):
            return left + right if len(left) + len(right) <= MAX_FOLD else _NO
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left + right
        return _NO
    if isinstance(left, int) and isinstance(right, str | bytes):
        left, right = right, left
    if isinstance(left, str | bytes) and isinstance(right, int):
        return left * right if 0 <= len(left) * right <= MAX_FOLD else _NO
    if isinstance(left, int | float) and isinstance(right, int | float) and abs(left * right) < 10**18:
        return left * right
    return _NO


def keys(value: object) -> Iterator[Key]:
    """The comparable scalars in a folded value (a container gives its elements)."""
    if isinstance(value, bool) or value is None or value is _NO:
        return
    if isinstance(value, str):
        yield ("s", value)
    elif isinstance(value, bytes):
        yield ("s", value.decode("latin-1"))
    elif isinstance(value, int | float):
        yield ("n", value)
    elif isinstance(value, tuple):
        for item in value:
            yield from keys(item)


def trivial(key: Key) -> bool:
    kind, value = key
    if kind == "n":
        return value in _TRIVIAL_NUMBERS
    text = str(value)
    # One separator or space is syntax the code parses ("-", ":"); a control byte is a value (b"\x03").
    return text == "" or (len(text) == 1 and text in _SEPARATORS)


def _render(key: Key) -> str:
    return repr(key[1])


@dataclass(frozen=True)
class AcceptanceValues:
    """What the acceptance tests use: key -> the test that uses it; and the words of their names."""

    used: Mapping[Key, str]
    name_words: frozenset[str]


def _constants(nodes: Iterable[ast.AST]) -> Iterator[Key]:
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.expr):
                yield from keys(fold(node))


def _test_keys(nodes: Sequence[ast.AST]) -> Iterator[Key]:
    """Literals of the test, and the data inside its strings: words holding a digit and numbers of
    two digits or more (``"a 100% b"`` passes ``100%``, ``"12:15 AM"`` passes 15). Words of letters
    alone (``AM``, ``UTC``) are vocabulary a parser rightly knows, not an input."""
    for key in _constants(nodes):
        yield key
        if key[0] == "s":
            text = str(key[1])
            yield from (("s", w) for w in text.split() if w != text and any(c.isdigit() for c in w))
            yield from (("n", int(d)) for d in _DIGITS.findall(text))


def _module_constants(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and fold(node.value) is not _NO:
            out.update({t.id: node.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _definitions(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level functions and classes, also those under ``if``/``try`` (``if six.PY3:``)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                yield from _definitions(block)


def _find(tree: ast.Module, names: Sequence[str]) -> ast.AST | None:
    scope: Sequence[ast.stmt] = tree.body
    found: ast.AST | None = None
    for name in names:
        found = next((d for d in _definitions(scope) if getattr(d, "name", None) == name), None)
        if found is None:
            return None
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return found


def acceptance_values(sources: Mapping[str, str], acceptance: Sequence[str]) -> AcceptanceValues:
    """The values the acceptance tests use: their bodies, decorators (parametrize lists) and the
    module constants they name. An id without ``::`` (a new test file) is the whole file."""
    used: dict[Key, str] = {}
    words: set[str] = set()
    for test_id in acceptance:
        path, _, rest = test_id.partition("::")
        tree = parse_module(sources.get(path))
        if tree is None:
            continue
        names = [n for n in rest.split("[", 1)[0].split("::") if n]
        param = rest.partition("[")[2].rstrip("]")
        node = _find(tree, names) if names else None
        nodes: list[ast.AST] = [node] if node is not None else [tree]
        label = names[-1] if names else path
        if node is not None:
            constants = _module_constants(tree)
            named = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            nodes += [constants[n] for n in sorted(named & constants.keys())]
        for key in _test_keys(nodes):
            used.setdefault(key, label)
        test_names = (
            names[-1:]
            if names
            else [d.name for d in ast.walk(tree) if isinstance(d, ast.FunctionDef | ast.AsyncFunctionDef)]
        )
        for name in [*test_names, param]:
            words |= {w.lower() for w in re.split(r"[_\W]+", name) if w and w.lower() != "test"}
    return AcceptanceValues(used, frozenset(words))


def parse_module(text: str | None) -> ast.Module | None:
    if text is None:
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def prose(intent: str) -> str:
    """The item's own words: its text less the failure output it quotes."""
    return "\n".join(line for line in intent.splitlines() if not _ECHO.search(line))


def named(key: Key, words: str, name_words: frozenset[str]) -> bool:
    text = str(key[1])
    if text.lower() in name_words:
        return True
    if re.search(rf"(?<![\w.]){re.escape(text)}(?![\w])", words):
        return True
    return len(text) == 1 and not text.isascii() and f"U+{ord(text):04X}" in words.upper()


@dataclass(frozen=True)
class _Site:
    node: ast.AST
    operands: tuple[ast.AST, ...]


def changed_spans(before: str | None, after: str) -> list[tuple[int, int]]:
    """The after text's changed line spans (1-based, inclusive); the whole file when it is new."""
    if before is None:
        return [(1, after.count("\n") + 1)]
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    return [(b1 + 1, max(b1 + 1, b2)) for tag, _, _, b1, b2 in matcher.get_opcodes() if tag != "equal"]


def _on(node: ast.AST, spans: Sequence[tuple[int, int]]) -> bool:
    start = getattr(node, "lineno", None)
    if start is None:
        return True  # the module, an operator: look inside
    end = getattr(node, "end_lineno", None) or start
    return any(start <= b and a <= end for a, b in spans)


def _sites(tree: ast.Module, spans: Sequence[tuple[int, int]]) -> Iterator[_Site]:
    """Where the changed lines test their input against a constant (only they can hold a new
    value; the rest of the tree is not walked, which keeps a large module cheap)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if not _on(node, spans):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Compare) and any(isinstance(op, _EQUALITY) for op in node.ops):
            yield _Site(node, (node.left, *node.comparators))
        elif isinstance(node, ast.match_case):
            values = [p.value for p in ast.walk(node.pattern) if isinstance(p, ast.MatchValue)]
            values += [k for p in ast.walk(node.pattern) if isinstance(p, ast.MatchMapping) for k in p.keys]
            if values:
                yield _Site(node.pattern, tuple(values))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            yield _Site(node, (node.value,))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            attr, owner = node.func.attr, node.func.value
            if attr in _LOOKUPS and isinstance(owner, ast.Dict):
                yield _Site(node, (owner,))
            elif attr in ("startswith", "endswith"):
                yield _Site(node, (node.args[0],))


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.Module) -> dict[str, Function]:
    """Every function and method by qualified name (``Class.method``), outermost first."""
    out: dict[str, Function] = {}

    def visit(body: Sequence[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{node.name}"
                if not isinstance(node, ast.ClassDef):
                    out.setdefault(name, node)
                visit(node.body, f"{name}.")
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                    visit(block, prefix)

    visit(tree.body, "")
    return out


class _Held:
    """The constants the code held before the change, per function: a value the changed function
    already knew is not new (the whole file's, for code outside any function or in a new one)."""

    def __init__(self, old: ast.Module | None, new: ast.Module) -> None:
        self._scopes = [(f.lineno, f.end_lineno or f.lineno, n) for n, f in _functions(new).items()]
        self._old = old
        self._file: set[Key] | None = None
        # The module's own constants (its top-level statements, not other functions' bodies).
        top = [
            n
            for n in (old.body if old else [])
            if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        self._module = set(_constants(top)) if old is not None else set()
        self._before = _functions(old) if old is not None else {}
        self._cache: dict[str, set[Key]] = {}

    def at(self, line: int) -> set[Key]:
        inner = [name for start, end, name in self._scopes if start <= line <= end]
        if not inner or inner[-1] not in self._before:
            if self._file is None:
                self._file = set(_constants([self._old])) if self._old is not None else set()
            return self._file
        name = inner[-1]
        if name not in self._cache:
            self._cache[name] = self._module | set(_constants([self._before[name]]))
        return self._cache[name]


def special_cases(
    files: Mapping[str, tuple[str | None, str | None]],
    tests: AcceptanceValues,
    *,
    intent: str = "",
    is_test: Iterable[str] = (),
    new_files: bool = True,
) -> list[Finding]:
    """One finding per changed line that recognises a value the acceptance tests use."""
    if not tests.used:
        return []
    words = prose(intent)
    skip = set(is_test)
    findings: list[Finding] = []
    for path, (before, after) in sorted(files.items()):
        if not path.endswith(".py") or path in skip or after is None or (before is None and not new_files):
            continue
        tree = parse_module(after)
        if tree is None:
            continue
        held: _Held | None = None  # what the code held before: read when needed
        lines: set[int] = set()
        for site in _sites(tree, changed_spans(before, after)):
            line = getattr(site.node, "lineno", 0)
            for operand in site.operands:
                values = [k for k in keys(fold(operand)) if not trivial(k)]
                if not values or not all(k in tests.used for k in values) or line in lines:
                    continue  # a table the test samples is a table, not a special case
                held = held or _Held(parse_module(before), tree)
                seen = held.at(line)
                fresh = [k for k in values if k not in seen and not named(k, words, tests.name_words)]
                if fresh:
                    lines.add(line)
                    expr = " ".join(ast.unparse(site.node).split())
                    expr = expr if len(expr) <= 90 else expr[:87] + "..."
                    findings.append(
                        Finding(
                            "special_cased",
                            path,
                            f"special-cased input at line {line}: `{expr}` recognises "
                            f"{_render(fresh[0])}, a value {tests.used[fresh[0]]} uses, instead of "
                            "handling its kind",
                        )
                    )
    return findings


def read_tests(root: Path, acceptance: Sequence[str]) -> dict[str, str]:
    """The acceptance tests' files as the change leaves them (the guard keeps them as they were)."""
    out: dict[str, str] = {}
    top = root.resolve()
    for path in {a.split("::", 1)[0] for a in acceptance}:
        target = (root / path).resolve()
        if not target.is_relative_to(top):
            continue  # an id naming a file outside the worktree names no test of this change
        try:
            out[path] = target.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return out


def special_cased_in(
    root: Path,
    files: Mapping[str, tuple[str | None, str | None]],
    *,
    acceptance: Sequence[str],
    intent: str = "",
    tests: Iterable[str] = (),
    red_build: bool = True,
) -> list[Finding]:
    """The check on a change in its worktree: ``acceptance`` are the tests that prove it (a red
    build's failing tests, a tests-first item's new files); ``tests`` the files that are tests."""
    if not acceptance:
        return []
    values = acceptance_values(read_tests(root, acceptance), acceptance)
    test_like = {p for p in files if is_test_file(p)} | set(tests)
    return special_cases(files, values, intent=intent, is_test=test_like, new_files=red_build)
