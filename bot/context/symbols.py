"""Symbols and imports of one source file: Python through ``ast``, others through tree-sitter.

A symbol is a function, class or method with its line range and first line (its signature), so
retrieval can hand the model whole functions and the planner a map of signatures.
"""

from __future__ import annotations

import ast
import functools
import importlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

LANGUAGES = {
    ".py": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
}


@dataclass(frozen=True)
class Symbol:
    name: str  # qualified within the file: Class.method
    kind: str  # function, class, method
    start: int  # 1-based, inclusive
    end: int
    signature: str


@dataclass(frozen=True)
class Parsed:
    symbols: tuple[Symbol, ...]
    imports: tuple[str, ...]
    error: str = ""  # why the file could not be parsed (it is still indexed, without symbols)


def language_of(path: str) -> str:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")


def _python(text: str) -> Parsed:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        return Parsed((), (), f"python: {exc}")
    lines = text.splitlines()
    symbols: list[Symbol] = []

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                end = node.end_lineno or node.lineno
                kind = "class" if isinstance(node, ast.ClassDef) else ("method" if in_class else "function")
                name = f"{prefix}{node.name}"
                signature = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else node.name
                symbols.append(Symbol(name, kind, start, end, signature))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{name}.", True)

    visit(tree.body, "", False)
    imports: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            imports += [base] + [
                f"{base}.{a.name}" if base.strip(".") else f"{base}{a.name}" for a in node.names
            ]
    return Parsed(tuple(symbols), tuple(dict.fromkeys(imports)))


# Per tree-sitter grammar: node types that are symbols, and those that are imports.
_TS_SYMBOLS: dict[str, dict[str, str]] = {
    "rust": {
        "function_item": "function",
        "struct_item": "class",
        "enum_item": "class",
        "trait_item": "class",
        "impl_item": "class",
        "mod_item": "class",
    },
    "javascript": {
        "function_declaration": "function",
        "class_declaration": "class",
        "method_definition": "method",
        "generator_function_declaration": "function",
    },
    "go": {"function_declaration": "function", "method_declaration": "method", "type_declaration": "class"},
}
_TS_SYMBOLS["typescript"] = {
    **_TS_SYMBOLS["javascript"],
    "interface_declaration": "class",
    "enum_declaration": "class",
}
_TS_SYMBOLS["tsx"] = _TS_SYMBOLS["typescript"]
_TS_IMPORTS = {"rust": ("use_declaration",), "javascript": ("import_statement",), "go": ("import_spec",)}
_TS_IMPORTS["typescript"] = _TS_IMPORTS["tsx"] = _TS_IMPORTS["javascript"]


# The per-language wheels ship their grammars: (module, function returning the language).
_GRAMMARS = {
    "rust": ("tree_sitter_rust", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
}


@functools.cache
def _parser(language: str) -> Any:
    from tree_sitter import Language, Parser

    module_name, function = _GRAMMARS[language]
    module = importlib.import_module(module_name)
    return Parser(Language(getattr(module, function)()))


def _node_name(node: Any, source: bytes) -> str:
    for field in ("name", "type"):
        child = node.child_by_field_name(field)
        if child is not None:
            return source[child.start_byte : child.end_byte].decode("utf-8", "replace")
    for child in node.children:
        if child.type in ("type_spec",):
            return _node_name(child, source)
    return ""


def _tree_sitter(text: str, language: str) -> Parsed:
    source = text.encode("utf-8")
    tree = _parser(language).parse(source)
    kinds, import_types = _TS_SYMBOLS[language], _TS_IMPORTS[language]
    symbols: list[Symbol] = []
    imports: list[str] = []
    lines = text.splitlines()

    def visit(node: Any, prefix: str) -> None:
        for child in node.children:
            kind = kinds.get(child.type)
            if kind is not None:
                name = _node_name(child, source) or child.type
                start, end = child.start_point[0] + 1, child.end_point[0] + 1
                signature = lines[start - 1].strip() if start <= len(lines) else name
                symbols.append(
                    Symbol(
                        f"{prefix}{name}",
                        kind if not prefix or kind != "function" else "method",
                        start,
                        end,
                        signature,
                    )
                )
                visit(child, f"{prefix}{name}." if kind == "class" else prefix)
            elif child.type in import_types:
                imports.append(source[child.start_byte : child.end_byte].decode("utf-8", "replace").strip())
            else:
                visit(child, prefix)

    visit(tree.root_node, "")
    error = "syntax errors in the file" if tree.root_node.has_error else ""
    return Parsed(tuple(symbols), tuple(imports), error)


def parse_source(path: str, text: str) -> Parsed:
    language = language_of(path)
    if language == "python":
        return _python(text)
    if language in _TS_SYMBOLS:
        try:
            return _tree_sitter(text, language)
        except (ImportError, KeyError, ValueError) as exc:  # a grammar wheel missing: index without symbols
            return Parsed((), (), f"{language}: {exc}")
    return Parsed((), ())
