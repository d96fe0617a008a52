"""A command the user typed (``fix --cmd "..."``), made into what the bot can run: an argv list and
environment variables, without a shell. What needs a shell (pipes, redirections, ``&&``) or cannot be
found is a clear error, not a run that fails for another reason and reads as "no failures"."""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.errors import UsageError

_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "|&", "$(", "`"}


@dataclass(frozen=True)
class UserCommand:
    argv: tuple[str, ...]
    env: dict[str, str]

    def render(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return " ".join(x for x in (prefix, shlex.join(self.argv)) if x)


def parse_user_command(text: str, *, cwd: Path) -> UserCommand:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot read the command {text!r}: {exc}") from exc
    shell = [w for w in words if w in _SHELL or w.startswith(("|", ">", "<", "$(", "`")) or w.endswith("|")]
    if shell:
        raise UsageError(
            f"the command {text!r} needs a shell ({shell[0]!r}); the bot runs one command without a shell: "
            "pass just the failing command (e.g. --cmd 'pytest -q'), or save its output and pass --log FILE"
        )
    env: dict[str, str] = {}
    while words and _ASSIGN.match(words[0]):  # FOO=1 BAR=2 pytest: variables for the command
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words:
        raise UsageError(f"the command {text!r} names no program to run")
    program = words[0]
    found = shutil.which(program, path=None) if "/" not in program else program
    if found is None or ("/" in program and not (cwd / program).exists() and not Path(program).exists()):
        raise UsageError(f"cannot run {program!r}: not found on PATH (the command was {text!r})")
    return UserCommand(tuple(words), env)
