"""``milestone-bot demo``: the routing layer end to end, offline.

Three tiers, each a real client (openai, anthropic SDKs) talking HTTP to the in-tree fake servers
on 127.0.0.1: a local vLLM-style server priced by GPU time, a Groq-style fast API and an Anthropic
premium API, priced from the catalog. Three tasks escalate under the three-tier preset, the fast
tier answers one 429 and one 500 on the way, and every call lands in a real SQLite ledger whose
cost table is printed at the end.

The validator here is a stand-in that checks the answer for the expected marker; the real
validation pipeline (build, tests, lint) replaces it in the item loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.app import build_router, cost_summary, open_ledger
from bot.budget.ledger import Scope
from bot.config import load_config
from bot.domain import CallScope, Verdict
from bot.models.base import ChatRequest, Completion, Message
from bot.models.script import load_script
from bot.report.cost import render_text
from bot.routing.driver import Driver, Task
from bot.routing.presets import policy_for
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.openai_server import FakeOpenAIServer

SCRIPT = """\
# Replies per task and tier. "PASS" marks an answer the demo validator accepts.
rules:
  - {match: {model: "qwen*", item: add-slugify}, reply: "def slugify(s): ...  # PASS"}
  - {match: {model: "qwen*"}, reply: "I think the bug is elsewhere."}
  - {match: {model: "llama*", item: fix-date-parse}, times: 1, error: {status: 429, retry_after: 1, message: "rate limited"}}
  - {match: {model: "llama*", item: fix-date-parse}, reply: "Use datetime.strptime without a format."}
  - {match: {model: "llama*", item: handle-empty-config}, times: 1, error: {status: 500, message: "upstream error"}}
  - {match: {model: "llama*", item: handle-empty-config}, reply: "return Config() when the file is empty  # PASS"}
  - {match: {model: "claude*"}, reply: "Parse with datetime.fromisoformat and add a test  # PASS"}
"""

CONFIG = """\
[routing]
preset = "three-tier"
backoff_initial_s = 0.2
retry_after_cap_s = 5

[budget]
per_item_usd = 0.50
per_run_usd = 2

[ledger]
path = "{ledger}"

[tiers.local]
[[tiers.local.providers]]
type = "openai_compat"
name = "vllm-local"
base_url = "{local}"
model = "qwen2.5-coder-7b-instruct"
price = {{ gpu_usd_per_hour = 1.20 }}

[tiers.fast]
[[tiers.fast.providers]]
type = "openai_compat"
name = "groq"
base_url = "{fast}"
model = "llama-3.3-70b-versatile"
price_provider = "groq"
api_key_env = "DEMO_GROQ_KEY"

[tiers.premium]
[[tiers.premium.providers]]
type = "anthropic"
name = "anthropic"
base_url = "{premium}"
model = "claude-sonnet-4-6"
api_key_env = "DEMO_ANTHROPIC_KEY"
"""

TASKS = ("add-slugify", "fix-date-parse", "handle-empty-config")


async def _run(workdir: Path, out: Callable[[str], None]) -> int:
    script = workdir / "demo-script.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    rules = load_script(script)
    with (
        FakeOpenAIServer(rules) as local,
        FakeOpenAIServer(rules) as fast,
        FakeAnthropicServer(rules) as premium,
    ):
        config_path = workdir / "milestone-bot.toml"
        config_path.write_text(
            CONFIG.format(
                ledger=workdir / "ledger.sqlite",
                local=local.base_url,
                fast=fast.base_url,
                premium=premium.base_url.rstrip("/"),
            ),
            encoding="utf-8",
        )
        config = load_config(config_path)
        out(
            f"config {config_path}: ok; tiers {' -> '.join(config.tier_names)}; preset {config.routing.preset}"
        )
        ledger = open_ledger(config, root=workdir)
        env = {"DEMO_GROQ_KEY": "demo", "DEMO_ANTHROPIC_KEY": "demo"}
        router, guard = build_router(config, ledger=ledger, root=workdir, env=env)
        driver = Driver(router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard)

        def make_request(scope: CallScope) -> ChatRequest:
            return ChatRequest(
                messages=(
                    Message("system", "You fix one checklist item. Answer with the change."),
                    Message("user", f"Item {scope.item_id}: make it work."),
                ),
                scope=scope,
                max_tokens=1024,
            )

        async def validate(completion: Completion, scope: CallScope) -> Verdict:
            return Verdict.PASSED if "PASS" in completion.text else Verdict.FAILED

        failures = 0
        for item in TASKS:
            outcome = await driver.run(
                Task("demo", item, repo="demo/repo"), make_request=make_request, validate=validate
            )
            path = " -> ".join(f"{t.tier}:{t.verdict.value}" for t in outcome.tried)
            out(f"  {item:<22} {outcome.verdict.value:<7} {path}  (${outcome.cost.quantize(_CENT)})")
            failures += outcome.verdict is not Verdict.PASSED
        out("")
        out(render_text(cost_summary(config, ledger.calls(Scope(run_id="demo")))))
        for warning in guard.warnings:
            out(f"warning: {warning}")
        ledger.close()
        return 1 if failures else 0


_CENT = __import__("decimal").Decimal("0.000001")


def run_demo(workdir: Path | None, out: Callable[[str], None] = print) -> int:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(workdir, out))
    with tempfile.TemporaryDirectory(prefix="milestone-bot-demo-") as tmp:
        return asyncio.run(_run(Path(tmp), out))
