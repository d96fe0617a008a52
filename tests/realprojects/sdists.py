"""Real projects from PyPI sdists, cached under .cache/realprojects (git-ignored), and one shared
virtual environment for their tests (their own pytest, not the bot's plugins). Anything that needs
the package index skips with the reason when it cannot be reached."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.integration.sample import git

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "realprojects"
# pytest 9 dropped the py.path hook arguments boltons' own conftest plugin still uses.
VENV_PACKAGES = ("pytest<9",)


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600, check=False
    )


def sdist(name: str, version: str) -> Path:
    folder = CACHE / "sdists"
    stem = f"{name}_{version}".replace("-", "_").lower()
    found = [p for p in folder.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(stem)]
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    result = _pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(folder), f"{name}=={version}")
    found = [p for p in folder.glob("*.tar.gz") if p.name.lower().replace("-", "_").startswith(stem)]
    if result.returncode != 0 or not found:
        pytest.skip(f"the package index cannot be reached for {name}=={version}: {result.stderr[-300:]}")
    return found[0]


def venv() -> Path:
    """A virtual environment with the projects' test runner; built once, reused."""
    folder = CACHE / "venv"
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    if ready.exists():
        return folder
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, timeout=300)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *VENV_PACKAGES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"the package index cannot be reached to install {VENV_PACKAGES}: {result.stderr[-300:]}")
    ready.write_text("ok")
    return folder


def checkout(name: str, version: str, dest: Path) -> Path:
    """The sdist unpacked as a git repository with one commit."""
    with tarfile.open(sdist(name, version)) as archive:
        archive.extractall(dest, filter="data")
    [root] = [p for p in dest.iterdir() if p.is_dir()]
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(
        root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"{name} {version} from PyPI"
    )
    return root


def commit_all(root: Path, message: str) -> None:
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message)
