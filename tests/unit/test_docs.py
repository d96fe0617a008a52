"""The docs' examples stay true: the README's config and this repository's config are valid."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import load_config, parse_config
from bot.models.script import Script

ROOT = Path(__file__).resolve().parents[2]


def test_readme_config_example_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[tiers." in b]
    config = parse_config(block, file="README.md")
    assert config.tier_names == ("local", "fast", "premium")


def test_repository_config_is_valid() -> None:
    config = load_config(ROOT / ".github" / "milestone-bot.toml")
    assert len(config.tiers["premium"].providers) == 2


def test_scripted_provider_doc_example_is_valid() -> None:
    import yaml

    doc = (ROOT / "docs" / "scripted-provider.md").read_text()
    [block] = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    script = Script.model_validate(yaml.safe_load(block))
    assert script.rules[0].error is not None and script.rules[0].error.retry_after == 2


def test_readme_github_settings_are_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    [main] = [b for b in blocks if "[tiers." in b]
    [github] = [b for b in blocks if b.startswith("[github]")]
    config = parse_config(main + github, file="README.md")
    assert config.github.review_budget_usd > 0 and config.github.bot_login == "github-actions[bot]"
