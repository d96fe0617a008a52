"""One money formatter, and the premium-alone estimate: stated, honest, omitted when meaningless."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bot.budget.ledger import CallRecord
from bot.config import parse_config
from bot.models.base import Usage
from bot.report.cost import render_json, render_text, savings_line
from bot.report.money import decimal_str, usd
from bot.report.premium import cost_summary


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0E-12", "$0.00"), ("0.012345", "$0.01235"), ("0.5", "$0.50"), ("0.000004", "$0.000004"),
        ("0.99996", "$1.00"), ("1", "$1.00"), ("1234.567", "$1,234.57"), ("-0.0601", "-$0.0601"),
        ("0.000001234567", "$0.000001235"),
    ],
)  # fmt: skip
def test_usd_has_four_significant_digits_or_cents_above_a_dollar(amount: str, text: str) -> None:
    assert usd(Decimal(amount)) == text


@pytest.mark.parametrize(
    ("amount", "text"), [("0E-12", "0"), ("1.2300", "1.23"), ("1E+2", "100"), ("0.000000001", "0.000000001")]
)
def test_json_decimals_are_plain_strings(amount: str, text: str) -> None:
    assert decimal_str(Decimal(amount)) == text


LOCAL = (
    '[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "http://x/v1"\n'
    'model = "qwen-7b"\nprice = { input_per_mtok = 0.1, output_per_mtok = 0.1 }\n'
)
PREMIUM = (
    '[tiers.premium]\n[[tiers.premium.providers]]\ntype = "openai_compat"\nbase_url = "http://y/v1"\n'
    'model = "big"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
)


def call(
    tier: str, model: str, item: str, purpose: str, attempt: int, cost: str, outcome: str = "ok"
) -> CallRecord:
    return CallRecord(
        "r", item, attempt, purpose, tier, "p", model, Usage(1000, 200), Decimal(cost), 0.1, outcome
    )


def test_single_tier_has_no_premium_estimate() -> None:
    config = parse_config('[routing]\npreset = "single-model"\n' + LOCAL)
    summary = cost_summary(config, [call("local", "qwen-7b", "a", "change", 0, "0.00012")])
    assert summary.premium_only is None and summary.savings is None
    assert (
        savings_line(summary) == "No premium-alone estimate: one tier only (local), nothing to compare with."
    )
    assert "would have cost" not in render_text(summary)
    assert json.loads(render_json(summary))["premium_only_usd"] is None


def test_two_tiers_estimate_one_premium_attempt_per_item_and_phase() -> None:
    config = parse_config('[routing]\npreset = "local-first"\n' + LOCAL + PREMIUM)
    calls = [
        call("local", "qwen-7b", "a", "test", 0, "0.00012"),
        call("local", "qwen-7b", "a", "change", 1, "0.00012"),  # rejected, then
        call("local", "qwen-7b", "a", "change", 2, "0.00012"),  # accepted
        call(
            "local", "qwen-7b", "a", "change", 2, "0", outcome="unavailable"
        ),  # a failed try of that attempt
    ]
    summary = cost_summary(config, calls)
    # test: 1 attempt of 1000/200 tokens; change: 2 attempts, 3000/600 tokens -> mean 1500/300.
    one = Decimal(1000 * 3 + 200 * 15) / 1_000_000
    mean_change = Decimal(1500 * 3 + 300 * 15) / 1_000_000
    assert summary.premium_only == one + mean_change
    assert summary.savings == one + mean_change - Decimal("0.00036")
    line = savings_line(summary)
    assert line.startswith(
        "Estimate, premium tier alone (big): about $0.015 (one premium attempt per item and phase"
    )
    assert line.endswith("this run cost $0.00036, about $0.01464 less.")
    data = json.loads(render_json(summary))
    assert data["savings_usd"] == "0.01464" and "E" not in data["premium_only_usd"]


def test_a_run_that_cost_more_than_the_estimate_claims_no_saving() -> None:
    config = parse_config('[routing]\npreset = "three-tier"\n' + LOCAL + PREMIUM)
    calls = [call("local", "qwen-7b", "a", "change", n, "0.001") for n in range(5)]
    calls.append(call("premium", "big", "a", "change", 5, "0.02"))
    summary = cost_summary(config, calls)
    assert summary.premium_only is not None and summary.premium_only < summary.total
    assert summary.savings is None
    assert savings_line(summary).endswith("no saving on this run.")
    assert "-$" not in render_text(summary) and json.loads(render_json(summary))["savings_usd"] is None


def test_premium_first_has_nothing_to_compare() -> None:
    config = parse_config('[routing]\npreset = "three-tier"\nstart_tier = "premium"\n' + LOCAL + PREMIUM)
    summary = cost_summary(config, [call("premium", "big", "a", "change", 0, "0.006")])
    assert summary.premium_only is None
    assert savings_line(summary) == "No premium-alone estimate: the run starts at the premium tier (premium)."


def test_rows_follow_the_tier_order() -> None:
    config = parse_config('[routing]\npreset = "local-first"\n' + PREMIUM.replace("premium", "zz") + LOCAL)
    summary = cost_summary(config, [call("local", "qwen-7b", "a", "change", 1, "0.1"),
                                    call("zz", "big", "a", "change", 0, "0.2")])  # fmt: skip
    assert [r.tier for r in summary.rows] == ["zz", "local"]


def test_budget_messages_read_money_like_every_report() -> None:
    from bot.errors import BudgetExceeded

    exc = BudgetExceeded(
        limit="per_run", limit_usd=Decimal("0.01"), spent_usd=Decimal("0E-12"), needed_usd=Decimal("0.0000123456789")
    )
    assert str(exc) == (
        "budget per_run of $0.01 would be exceeded: $0.00 spent or reserved, this call may cost up to $0.00001235"
    )
