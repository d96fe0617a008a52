"""The project's own environment: which interpreter validation runs, and proof that the code under
test is the checkout's own.

Configured (``[validation] python`` / ``venv``) or detected: an active ``VIRTUAL_ENV``, ``.venv/``
or ``venv/`` in the repository, an interpreter on PATH that can import the project; only when none
is found, the bot's own interpreter, and the report says so. The checkout's import roots (``src/``
for src layouts, else the checkout) go first on ``PYTHONPATH`` so an editable install of the main
checkout cannot shadow a worktree's change; a probe proves the package imported resolves inside
the checkout, and validation stops with the reason when it does not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from bot.config import Validation
from bot.errors import ValidationEnvironmentError
from bot.validation.pipeline import Settings, command_env
from bot.workspace import proc
from bot.workspace.sandbox import SandboxPolicy

PROBE = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    m = importlib.import_module(name)\n"
    "    print(name, getattr(m, '__file__', None) or list(getattr(m, '__path__', [])))\n"
)


@dataclass(frozen=True)
class Environment:
    python: str
    why: str  # which one and why, for the report
    env: dict[str, str] = field(default_factory=dict)  # extra variables (config, venv PATH)
    import_roots: tuple[str, ...] = (".",)  # relative to each checkout
    packages: tuple[str, ...] = ()  # top-level packages of the project, for the probe

    def describe(self) -> str:
        return f"{self.python} ({self.why}); import roots {', '.join(self.import_roots)}"


def packages(repo: Path) -> tuple[str, ...]:
    """Top-level import packages of a Python project: src/<pkg>, <pkg>/ with __init__.py, or a
    single module named after the project."""
    found: list[str] = []
    for root in (repo / "src", repo):
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.name.startswith((".", "_")) or child.name in ("tests", "test", "docs", "examples"):
                continue
            if (child / "__init__.py").is_file():
                found.append(child.name)
        if found:
            break
    if not found:
        try:
            name = str(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["name"])
        except (OSError, KeyError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            name = ""
        module = name.replace("-", "_").lower()
        if module and ((repo / f"{module}.py").is_file() or (repo / "src" / f"{module}.py").is_file()):
            found.append(module)
    return tuple(found)


def _venv_python(folder: Path) -> Path | None:
    for rel in ("bin/python", "Scripts/python.exe"):
        if (folder / rel).exists():
            return folder / rel
    return None


def find_environment(
    repo: Path, config: Validation | None = None, *, environ: Mapping[str, str] | None = None
) -> Environment:
    environ = os.environ if environ is None else environ
    roots: tuple[str, ...]
    if config is not None and config.import_roots is not None:
        roots = tuple(config.import_roots)
    else:
        src = any((repo / "src" / p).is_dir() for p in packages(repo))
        roots = ("src",) if src else (".",)
    extra = dict(config.env) if config is not None else {}
    pkgs = packages(repo)

    def made(python: str, why: str, venv: Path | None = None) -> Environment:
        env = dict(extra)
        if venv is not None:
            env.setdefault("VIRTUAL_ENV", str(venv))
            env.setdefault("PATH", f"{venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}")
        return Environment(python, why, env, roots, pkgs)

    if config is not None and config.python:
        return made(shutil.which(config.python) or config.python, "configured: [validation] python")
    if config is not None and config.venv:
        folder = (repo / config.venv).resolve()
        python = _venv_python(folder)
        return made(str(python or folder / "bin/python"), "configured: [validation] venv", folder)
    active = environ.get("VIRTUAL_ENV")
    if active and _venv_python(Path(active)) is not None:
        return made(str(_venv_python(Path(active))), "the active VIRTUAL_ENV", Path(active))
    for name in (".venv", "venv"):
        python = _venv_python(repo / name)
        if python is not None:
            return made(str(python), f"{name}/ in the repository", repo / name)
    return made(sys.executable, FALLBACK)


FALLBACK = "the bot's own interpreter (no project environment found)"


async def resolve_environment(
    repo: Path,
    config: Validation | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    sandbox: SandboxPolicy | None = None,
) -> Environment:
    """``find_environment``, then, before settling for the bot's own interpreter, an interpreter on
    PATH that can import the project."""
    found = find_environment(repo, config, environ=environ)
    if found.why != FALLBACK or not found.packages:
        return found
    for name in ("python3", "python"):
        path = shutil.which(name)
        # Not the bot's own (a venv's python resolves to the same binary, with other packages).
        if path and path != sys.executable and await imports_project(
            path, repo, (*found.packages, "pytest"), sandbox=sandbox
        ):
            return replace(found, python=path, why=f"{name} on PATH imports the project")
    return found


async def imports_project(
    python: str, repo: Path, pkgs: tuple[str, ...], *, sandbox: SandboxPolicy | None = None
) -> bool:
    """Whether ``python`` can import the project from ``repo`` (detection on PATH)."""
    if not pkgs:
        return True
    result = await proc.run([python, "-c", PROBE, *pkgs], cwd=repo, root=repo, timeout_s=60, sandbox=sandbox)
    return result.ok


async def probe(settings: Settings, checkout: Path) -> str:
    """'' when every project package imported with the validation environment resolves inside
    ``checkout``; else why validation cannot prove it tests the checkout's code."""
    if not settings.packages or not settings.python:
        return ""
    result = await proc.run(
        [settings.python, "-c", PROBE, *settings.packages],
        cwd=checkout,
        root=checkout,
        timeout_s=min(settings.timeout_s, 120),
        extra_env=command_env(settings, checkout),
        extra_secrets=settings.secrets,
        sandbox=settings.sandbox,
    )
    if not result.ok:
        tail = result.output.strip().splitlines()[-1:] or ["no output"]
        return (
            f"the project does not import with {settings.environment or settings.python}: {tail[0]} "
            "(set [validation] python or venv, or a setup command that installs its dependencies)"
        )
    inside = str(checkout.resolve())
    for line in result.output.splitlines():
        name, _, where = line.partition(" ")
        if name in settings.packages and inside not in where:
            return (
                f"package {name} imports from {where.strip()}, not from the checkout {checkout}: an "
                "installed copy shadows the code under test (set [validation] import_roots)"
            )
    return ""


def settings_for(
    environment: Environment, validation: Validation | None, *, run_all: bool = False
) -> Settings:
    return Settings(
        timeout_s=validation.timeout_s if validation else 900.0,
        secrets=tuple(validation.secret_env) if validation else (),
        run_all=run_all,
        env=environment.env,
        import_roots=environment.import_roots,
        packages=environment.packages,
        python=environment.python,
        environment=environment.describe(),
    )


def setup_key(repo: Path, argv: list[str], python: str) -> str:
    """What a setup run depends on: its command, the interpreter and the project's metadata."""
    digest = hashlib.sha256("\0".join([python, *argv]).encode())
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt", "requirements-dev.txt"):
        path = repo / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


async def run_setup(
    repo: Path,
    environment: Environment,
    argv: list[str],
    *,
    timeout_s: float,
    sandbox: SandboxPolicy | None = None,
) -> str:
    """Run the configured setup command once per key; '' on success, else the output's tail."""
    marker = repo / ".milestone-bot" / "setup" / setup_key(repo, argv, environment.python)
    if marker.exists():
        return ""
    # The base's own setup (from the base's config), not model-written code: it may download
    # dependencies and install them into the validation environment, so it gets the network and
    # that environment writable; still no secrets and nothing else of the bot's.
    prefix = Path(environment.python).absolute().parent.parent
    result = await proc.run(
        argv,
        cwd=repo,
        root=repo,
        timeout_s=timeout_s,
        extra_env={**environment.env, "PYTHON": environment.python},
        sandbox=replace(sandbox or SandboxPolicy(), network=True),
        writable=(prefix,) if (prefix / "pyvenv.cfg").is_file() else (),
    )
    if not result.ok:
        return f"setup command {' '.join(argv)} failed ({result.returncode}): {result.output[-1500:]}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(" ".join(argv), encoding="utf-8")
    return ""


# The workflows' ``setup-command`` input. It runs here, sandboxed like the config's ``setup``, and
# never as a workflow step: the checkout it installs may hold model-written code (a wave's start,
# a bot branch, a PR head), and a step would run that code (setup.py, a build backend) unsandboxed
# in a job that later holds keys or the write token.
WORKFLOW_SETUP_ENV = "MILESTONE_BOT_SETUP"


def setup_command(validation: Validation | None, environ: Mapping[str, str]) -> list[str] | None:
    """The config's ``[validation] setup``, else the workflow's setup command (a shell line)."""
    if validation is not None and validation.setup:
        return validation.setup
    line = environ.get(WORKFLOW_SETUP_ENV, "").strip()
    return ["bash", "-c", line] if line else None


async def prepare(
    repo: Path, validation: Validation | None, *, run_all: bool = False, sandbox: SandboxPolicy | None = None
) -> tuple[Environment, Settings]:
    """The environment and settings every validation of ``repo`` uses, after the configured setup
    command ran (once per project files); raises when setup fails, so nothing is judged in a broken
    environment."""
    # ``sandbox``: the run's policy (the config's), for the probes and the setup command too.
    environment = await resolve_environment(repo, validation, sandbox=sandbox)
    setup = setup_command(validation, os.environ)
    if setup:
        timeout_s = validation.timeout_s if validation is not None else Validation().timeout_s
        problem = await run_setup(repo, environment, setup, timeout_s=timeout_s, sandbox=sandbox)
        if problem:
            raise ValidationEnvironmentError(problem)
    settings = settings_for(environment, validation, run_all=run_all)
    return environment, settings if sandbox is None else replace(settings, sandbox=sandbox)


def base_validation(text: str | None) -> Validation | None:
    """The ``[validation]`` table of the bot's config as the base commit has it; None when the
    file is absent there or the table does not parse (the caller's config then stands)."""
    if text is None:
        return None
    try:
        table = tomllib.loads(text).get("validation")
        return Validation.model_validate(table) if isinstance(table, dict) else None
    except (tomllib.TOMLDecodeError, ValidationError):
        return None
