"""The demo's bundled sample: a small Python project, a milestone for it, and the model script.

The script plays three tiers (by model name) so the run shows the product's behaviour: tests
written first and proven red, one item solved on the local tier, one that fails validation there
and succeeds after escalating (twice for the last), and independent items in parallel.
"""

from __future__ import annotations

FILES = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1.0"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    'pythonpath = ["."]\n',
    "README.md": "# calc\n\nA tiny calculator library.\n",
    "calc/__init__.py": "",
    "calc/ops.py": 'def add(a, b):\n    """The sum of a and b."""\n    return a + b\n\n\n'
    'def mul(a, b):\n    """The product of a and b."""\n    return a * b\n',
    "tests/test_ops.py": "import calc.ops\n\n\ndef test_add():\n    assert calc.ops.add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert calc.ops.mul(2, 3) == 6\n",
}

CHECKLIST = """---
format: 1
ref: milestone#1
title: Complete the calculator
budget_usd: '1.00'
---

# Complete the calculator

- [ ] Add subtraction <!-- milestone-bot: {"id": "add-sub", "description": "calc.ops.sub(a, b) returns a - b."} -->
- [ ] Add true division <!-- milestone-bot: {"id": "add-div", "description": "calc.ops.div(a, b) returns a / b as a float."} -->
- [ ] Dividing by zero raises ValueError <!-- milestone-bot: {"id": "safe-div", "kind": "bugfix", "description": "div(a, 0) must raise ValueError with a clear message, not ZeroDivisionError.", "depends_on": ["add-div"], "allowed_files": ["calc/ops.py", "tests/test_safe_div.py"]} -->
- [ ] Document the operations <!-- milestone-bot: {"id": "docs", "kind": "docs", "description": "List the operations in the README.", "depends_on": ["add-sub", "add-div"], "allowed_files": ["README.md"]} -->
"""


def _new(path: str, text: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n=======\n{text}>>>>>>> REPLACE\n"


_MUL = 'def mul(a, b):\n    """The product of a and b."""\n    return a * b\n'
_ADD = 'def add(a, b):\n    """The sum of a and b."""\n    return a + b\n'
_DIV = 'def div(a, b):\n    """a divided by b."""\n    return {body}\n'


def _after_add(body: str) -> str:
    # div goes between add and mul, sub after mul: the two parallel branches merge cleanly.
    return (
        "calc/ops.py\n<<<<<<< SEARCH\n"
        + _ADD
        + "=======\n"
        + _ADD
        + "\n\n"
        + _DIV.format(body=body)
        + ">>>>>>> REPLACE\n"
    )


_SAFE = (
    "calc/ops.py\n<<<<<<< SEARCH\n" + _DIV.format(body="a / b") + "=======\n"
    'def div(a, b):\n    """a divided by b; dividing by zero is a ValueError."""\n'
    '    if b == 0:\n        raise ValueError("cannot divide by zero")\n    return a / b\n>>>>>>> REPLACE\n'
)

# Models: "qwen*" is the local tier, "llama*" the fast one, "claude*" the premium one.
SCRIPT = {
    "rules": [
        # add-sub: the local model does it all.
        {
            "match": {"item": "add-sub", "purpose": "test"},
            "reply": _new(
                "tests/test_sub.py",
                "import calc.ops\n\n\ndef test_sub():\n    assert calc.ops.sub(5, 3) == 2\n",
            ),
        },
        {
            "match": {"item": "add-sub", "purpose": "change"},
            "reply": "calc/ops.py\n<<<<<<< SEARCH\n"
            + _MUL
            + "=======\n"
            + _MUL
            + '\n\ndef sub(a, b):\n    """a minus b."""\n    return a - b\n>>>>>>> REPLACE\n',
        },
        # add-div: the local model divides with //, validation says no, the fast tier gets it right.
        {
            "match": {"item": "add-div", "purpose": "test"},
            "reply": _new(
                "tests/test_div.py",
                "import calc.ops\n\n\ndef test_div():\n    assert calc.ops.div(7, 2) == 3.5\n",
            ),
        },
        {"match": {"item": "add-div", "purpose": "change", "model": "qwen*"}, "reply": _after_add("a // b")},
        {"match": {"item": "add-div", "purpose": "change"}, "reply": _after_add("a / b")},
        # safe-div: local and fast miss; premium fixes it.
        {
            "match": {"item": "safe-div", "purpose": "test"},
            "reply": _new(
                "tests/test_safe_div.py",
                "import pytest\n\nimport calc.ops\n\n\ndef test_div_by_zero():\n"
                '    with pytest.raises(ValueError, match="zero"):\n        calc.ops.div(1, 0)\n',
            ),
        },
        {
            "match": {"item": "safe-div", "purpose": "change", "model": "qwen*"},
            "reply": "The code looks correct to me.",
        },
        {
            "match": {"item": "safe-div", "purpose": "change", "model": "llama*"},
            "reply": "calc/ops.py\n<<<<<<< SEARCH\n    return a / b\n=======\n    return a / b if b else 0\n>>>>>>> REPLACE\n",
        },
        {"match": {"item": "safe-div", "purpose": "change"}, "reply": _SAFE},
        # docs: no test first for docs.
        {
            "match": {"item": "docs"},
            "reply": "README.md\n<<<<<<< SEARCH\nA tiny calculator library.\n=======\nA tiny calculator library: "
            "add, mul, sub and div (which refuses to divide by zero).\n>>>>>>> REPLACE\n",
        },
    ]
}
