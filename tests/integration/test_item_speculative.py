"""Speculative escalation in the per-item loop on a real sample project: a speculative attempt's
request carries the memory that exists when it starts, and when it is adopted after the attempt it
raced failed with diagnostics it never saw, its record says so."""

from __future__ import annotations

import json
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import ItemStatus, Verdict
from bot.execution.item_loop import ItemRunner
from bot.execution.services import build_router
from bot.models.scripted import ScriptedProvider
from bot.routing.presets import policy_for
from bot.routing.speculative import speculation_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import PYTHON_PROJECT, make_repo
from tests.integration.test_item_loop import ITEM, RIGHT, TEST_ANSWER, WRONG

# Wrong in another way than WRONG, so its diagnostics differ: sub(3, 1) gives -2, not 4.
WRONG_TOO = RIGHT.replace("return a - b", "return b - a")


async def test_an_adopted_speculative_attempt_says_what_it_did_not_see(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    # The test phase's speculative attempts answer slowly: they are cancelled when local's test
    # validates. In the change phase every tier's answer is ready at once.
    slow_test = {"match": {"purpose": "test"}, "reply": TEST_ANSWER, "delay_s": 30}
    rules = {
        "local": [{"match": {"purpose": "test"}, "reply": TEST_ANSWER}, {"match": {"purpose": "change"}, "reply": WRONG}],
        "fast": [slow_test, {"match": {"purpose": "change"}, "reply": WRONG_TOO}],
        "premium": [slow_test, {"match": {"purpose": "change"}, "reply": RIGHT}],
    }  # fmt: skip
    text = '[routing]\npreset = "three-tier"\nspeculative = true\nspeculative_cap_usd = 1\n'
    for tier, tier_rules in rules.items():
        (tmp_path / f"{tier}.json").write_text(json.dumps({"rules": tier_rules}))
        text += (
            f'[tiers.{tier}]\n[[tiers.{tier}.providers]]\ntype = "scripted"\nscript = "{tmp_path}/{tier}.json"\n'
            f'model = "{tier}-m"\nprice = {{ input_per_mtok = 1, output_per_mtok = 1 }}\n'
        )
    config = parse_config(text)
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    speculation = speculation_for(config.routing)
    item_runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="calc",
        speculation=speculation,
    )  # fmt: skip
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE, result.reason
    change = [a for a in result.attempts if a.phase == "change"]
    assert [(a.tier, a.verdict) for a in change] == [
        ("local", Verdict.FAILED), ("fast", Verdict.FAILED), ("premium", Verdict.PASSED),
    ]  # fmt: skip
    assert speculation is not None and speculation.adopted == 2
    # Each adopted attempt started while the one before it was validated: its record says which,
    # and quotes the diagnostics it missed (local's, then fast's).
    local_n = result.attempts.index(change[0]) + 1
    assert change[0].note == ""
    assert change[1].note.startswith(f"speculative: started while attempt {local_n} was validated")
    assert change[2].note.startswith(f"speculative: started while attempt {local_n + 1} was validated")
    assert "test_sub" in change[1].note and "test_sub" in change[2].note
    # Premium's request was built after local's verdict: it remembers local's attempt (its diff),
    # not fast's, which was still being judged.
    premium = router.providers("premium")[0].provider
    assert isinstance(premium, ScriptedProvider)
    (request,) = [r for r in premium.requests if r.scope.purpose.value == "change"]
    assert "change phase, tier local, failed" in request.prompt_text
    assert "tier fast" not in request.prompt_text
