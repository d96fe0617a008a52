"""Replay real SWE-bench Verified outcomes through the real router, policies, budget guard and ledger.

Each of the 24 models in ../shared/data/swebench-verified-outcomes.json becomes a scripted
provider: its attempt on task T costs what it really cost and is right iff it really resolved T.
A noisy validator (true-positive rate, false-positive rate) decides what ships; attempts that hit
the scaffold's limits (250 calls, or about $3) are always rejected. Task order is shuffled per
seed. Nothing is tuned to task ids.

Three patterns need more than the data, and each assumption is a printed parameter:

- planner-executor: before an item's attempts the plan tier (premium) writes a plan. A plan
  costs ``--plan-calls`` of the premium model's own calls on that task (its logged cost / its
  logged calls, so the price per call is measured). A plan is good iff the premium model resolved
  the task; with a good plan an executor attempt that was wrong becomes right with probability
  ``--plan-uplift``. No published measurement of that lift on SWE-bench Verified is in the data
  (aider's architect/editor pairs beat single models on aider's own editing benchmark, a different
  task), so the preset is printed at several values of it.
- diverge-converge: the validated candidates of a round are cross-checked (each one's new tests
  on the others' code) and chosen by bot/execution/converge.py's own rule. The replay draws each
  cross-check: a right change passes a right sibling's test at the validator's TPR and a wrong
  sibling's test with probability ``--wrong-test-passes-right``; a wrong change passes a right
  sibling's test at the validator's FPR (an independent check of the same kind) and a wrong
  sibling's test with probability ``--wrong-agree``. The product's driver and preset decide
  everything else: a validated candidate without agreement is held, the tier it came from draws
  again (its providers take turns, here: each tier's models in order) up to three candidates,
  and the top tier's candidate ships alone on the last rung.
- diverge-converge's cheaper rules (one rung at a time, smaller first rounds, a lone candidate
  shipped instead of paying the top tier) run as fields of the same policy ("rules tried"); a
  bound (bench/converge_bound.py) gives what any rule could save at three-tier's false-ship, with
  the siblings' red-proven tests as evidence: ``q``, how often such a test is right, is printed at
  several values.
- speculative escalation: an attempt takes ``--s-per-call`` seconds per logged API call and its
  validation ``--validation-s``. While an attempt is validated the policy's next attempt starts;
  on success it is cancelled after the validation time, having cost that fraction of its logged
  cost (an agent's cost accrues call by call). Speculation changes no decision (the same
  attempts are validated in the same order), so it is computed on each preset's traces.

    python bench/replay.py [--seeds 3] [--tpr 0.95] [--fpr 0.10] [--plan-uplift 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.config import Budget, Preset, Routing, TokenPrice
from bot.config import ScriptedProvider as ScriptedConfig
from bot.domain import CallScope, Purpose, Verdict
from bot.execution.converge import Candidate, CrossCheck, decide
from bot.models.base import ChatRequest, Completion, Message
from bot.models.script import Match, Rule, RuleUsage, Script
from bot.models.scripted import ScriptedProvider
from bot.routing.breaker import CircuitBreaker
from bot.routing.driver import Converge, Driver, Task
from bot.routing.policy import Attempt, EscalationContext, EscalationPolicy, Tried
from bot.routing.presets import DivergeConverge, policy_for
from bot.routing.quota import QuotaTracker
from bot.routing.router import Router, Slot, TierSlots

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "swebench-verified-outcomes.json"
TOKENS_PER_USD = 1_000_000  # each model is priced at $1 per million output tokens, so tokens carry cost
MAX_TOKENS = 4_000_000  # above the scaffold's ~$3 ceiling, so no real attempt is cut off
# Assumed until measured: bench/validation.py's fidelity figures may replace them (validator_rates).
ASSUMED_TPR, ASSUMED_FPR = 0.95, 0.10

# The tiers: a self-hostable open model, cheap APIs, and a premium API (Gemini 3 Pro via OpenRouter:
# within 0.2 points of Claude 4.5 Opus alone, at 64% of its price).
LOCAL = ["Devstral small (2512)", "gpt-oss-120b", "Qwen2.5-Coder 32B Instruct"]
FAST = ["DeepSeek V3.2 Reasoner", "GPT-5 mini (2025-08-07) (medium reasoning)", "GLM-4.6 (T=1)"]
PREMIUM = ["Gemini 3 Pro Preview (2025-11-18)"]
BEST_SINGLE = "Claude 4.5 Opus medium (20251101)"
PLAN_MARK = "plan:good"


def validator_rates() -> tuple[float, float]:
    """The validator's (true-positive rate, false-positive rate): measured by bench/fidelity.py
    when it has run, else assumed."""
    return _measured_validator() or ASSUMED


@dataclass(frozen=True)
class Outcomes:
    instances: list[str]
    resolved: dict[str, set[str]]
    cost: dict[str, dict[str, float]]
    calls: dict[str, dict[str, int]]


def load(path: Path) -> Outcomes:
    data = json.loads(path.read_text())
    runs = {r["model"]: r for r in data["runs"].values()}
    return Outcomes(
        instances=list(data["instances"]),
        resolved={m: set(r["resolved"]) for m, r in runs.items()},
        cost={m: r["cost_usd"] for m, r in runs.items()},
        calls={m: r["api_calls"] for m, r in runs.items()},
    )


@dataclass(frozen=True)
class Assumptions:
    """What the data does not say, each a command-line parameter (see the module docstring)."""

    tpr: float = ASSUMED_TPR
    fpr: float = ASSUMED_FPR
    plan_calls: int = 5
    plan_uplift: float = 0.2
    wrong_test_passes_right: float = 0.5
    wrong_agree: float = 0.5
    s_per_call: float = 5.0
    validation_s: float = 120.0
    spec_cap_usd: float | None = None  # per seed-run; None: uncapped


def script_for(model: str, data: Outcomes, a: Assumptions) -> Script:
    rules = []
    for task in data.instances:
        cost = data.cost[model][task]
        calls = max(data.calls[model][task], 1)
        # A plan is a few of this model's own calls on the task, at its measured cost per call.
        plan_usage = RuleUsage(output_tokens=round(cost / calls * a.plan_calls * TOKENS_PER_USD))
        good = PLAN_MARK if task in data.resolved[model] else "plan:poor"
        rules.append(Rule(match=Match(item=task, purpose="plan"), reply=good, usage=plan_usage))
        limited = data.calls[model][task] >= 250 or cost >= 2.95
        reply = ("resolved" if task in data.resolved[model] else "wrong") + (" limit" if limited else "")
        usage = RuleUsage(output_tokens=round(cost * TOKENS_PER_USD))
        rules.append(Rule(match=Match(item=task), reply=reply, usage=usage))
    return Script(rules=rules)


class Planned(ScriptedProvider):
    """An executor that follows a good plan: a wrong attempt becomes right with the uplift."""

    def __init__(self, script: Script, *, model: str, uplift: float, rng: random.Random) -> None:
        super().__init__(script, model=model, name=model)
        self._uplift = uplift
        self._rng = rng

    async def complete(self, request: ChatRequest) -> Completion:
        completion = await super().complete(request)
        planned = PLAN_MARK in request.prompt_text and request.scope.purpose is not Purpose.PLAN
        if planned and completion.text == "wrong" and self._rng.random() < self._uplift:
            return Completion(
                "resolved (planned)", completion.usage, completion.model, completion.finish_reason
            )
        return completion


@dataclass(frozen=True)
class Step:
    """One attempt of a task, as run: for the speculative model."""

    tier: str
    model: str
    verdict: Verdict
    cost: float
    round: int  # attempts of one parallel round share it


@dataclass
class Result:
    name: str
    success: float
    false_ship: float
    usd: float
    preset: str = ""
    # per seed: (task, plan cost, steps)
    traces: list[list[tuple[str, float, list[Step]]]] = field(default_factory=list)
    policy: EscalationPolicy | None = None
    tiers: tuple[str, ...] = ()
    first_model: dict[str, str] = field(default_factory=dict)


class Replay:
    def __init__(self, data: Outcomes, *, seeds: int, assume: Assumptions) -> None:
        self.data = data
        self.seeds = seeds
        self.a = assume
        self._scripts = {m: script_for(m, data, assume) for m in data.resolved}

    def _slot(self, model: str, *, free: bool, rng: random.Random, uplift: float) -> Slot:
        price = TokenPrice(input_per_mtok=Decimal(0), output_per_mtok=Decimal(0 if free else 1))
        config = ScriptedConfig(type="scripted", script="-", model=model, name=model, price=price)
        return Slot(
            config=config,
            provider=Planned(self._scripts[model], model=model, uplift=uplift, rng=rng),
            breaker=CircuitBreaker(failures=3, cooldown_s=60),
            quota=QuotaTracker(None),
        )

    def _tiers(
        self,
        tiers: list[tuple[str, list[str]]],
        *,
        free_local: bool,
        balance: str,
        rng: random.Random,
        uplift: float,
    ) -> list[TierSlots]:
        return [
            TierSlots(name, balance,
                      [self._slot(m, free=free_local and name == "local", rng=rng, uplift=uplift) for m in models])
            for name, models in tiers
        ]  # fmt: skip

    def _converge(self, rng: random.Random) -> Converge:
        """bot/execution/converge.py's rule on cross-checks drawn from the stated rates. One closure
        per task: a pair checked again when a later candidate arrives gives the answer it gave
        (a real test run on the same code does), not a fresh draw."""
        a = self.a
        drawn: dict[tuple[str, str], bool] = {}

        async def choose(candidates: Sequence[tuple[CallScope, Completion]]) -> int | None:
            right = [c.text.startswith("resolved") for _, c in candidates]
            names = [str(s.attempt) for s, _ in candidates]
            checks = []
            for j, code_right in enumerate(right):
                for i, tests_right in enumerate(right):
                    if i == j:
                        continue
                    if code_right:
                        p = a.tpr if tests_right else a.wrong_test_passes_right
                    else:
                        p = a.fpr if tests_right else a.wrong_agree
                    key = (names[j], names[i])
                    if key not in drawn:
                        drawn[key] = rng.random() < p
                    checks.append(CrossCheck(names[j], names[i], drawn[key]))
            choice = decide([Candidate(n, {}, ()) for n in names], checks)
            return None if choice.chosen is None else names.index(choice.chosen)

        return choose

    async def run(
        self,
        name: str,
        preset: Preset,
        tiers: list[tuple[str, list[str]]],
        *,
        free_local: bool = False,
        converge: bool = True,
        first_round: int | None = None,
        uplift: float | None = None,
        variant: dict[str, object] | None = None,
    ) -> Result:
        """``variant``: DivergeConverge fields to replace (bot/routing/presets.py), for the rules tried."""
        shipped_right = shipped_wrong = 0
        spent = Decimal(0)
        balance = "round_robin" if preset == "diverge-converge" else "ordered"
        routing = Routing(preset=preset, retries=0)
        policy = policy_for(routing)
        if isinstance(policy, DivergeConverge) and first_round is not None:
            policy = dataclasses.replace(policy, first_round=first_round)
        if isinstance(policy, DivergeConverge) and variant:
            policy = dataclasses.replace(policy, **variant)  # type: ignore[arg-type]
        width = (policy.first_round or policy.diverge) if isinstance(policy, DivergeConverge) else 0
        result = Result(name, 0, 0, 0, preset, policy=policy, tiers=tuple(t for t, _ in tiers),
                        first_model={t: models[0] for t, models in tiers})  # fmt: skip
        for seed in range(self.seeds):
            rng = random.Random(seed)
            ledger = Ledger(":memory:")
            guard = BudgetGuard(ledger, Budget(per_run_usd=None))
            slots = self._tiers(tiers, free_local=free_local, balance=balance, rng=random.Random(seed + 1000),
                                uplift=self.a.plan_uplift if uplift is None else uplift)  # fmt: skip
            router = Router(slots, routing=routing, guard=guard, ledger=ledger)
            driver = Driver(router=router, policy=policy, ledger=ledger, guard=guard)
            verdicts: dict[tuple[str, int], tuple[Verdict, str]] = {}

            async def validate(
                completion: Completion,
                scope: CallScope,
                rng: random.Random = rng,
                verdicts: dict[tuple[str, int], tuple[Verdict, str]] = verdicts,
            ) -> Verdict:
                if scope.purpose is Purpose.PLAN:
                    return Verdict.PASSED  # a plan in the expected form; its quality acts on the executors
                if "limit" in completion.text:
                    verdict = Verdict.FAILED
                else:
                    rate = self.a.tpr if completion.text.startswith("resolved") else self.a.fpr
                    verdict = Verdict.PASSED if rng.random() < rate else Verdict.FAILED
                verdicts[(scope.item_id, scope.attempt)] = (verdict, completion.model)
                return verdict

            plan_text: dict[str, str] = {}

            def make_request(scope: CallScope, plan_text: dict[str, str] = plan_text) -> ChatRequest:
                text = f"{scope.item_id}\n{plan_text.get(scope.item_id, '')}"
                return ChatRequest(messages=(Message("user", text),), scope=scope, max_tokens=MAX_TOKENS)

            order = list(self.data.instances)
            rng.shuffle(order)
            trace: list[tuple[str, float, list[Step]]] = []
            for task_id in order:
                repo = task_id.split("__")[0]
                offset, plan_cost = 0, 0.0
                if preset == "planner-executor":
                    plan = Task(run_id=name, item_id=task_id, purpose=Purpose.PLAN, repo=repo)
                    planned = await driver.run(plan, make_request=make_request, validate=validate)
                    plan_text[task_id] = planned.shipped.text if planned.shipped else ""
                    offset, plan_cost = len(planned.tried), float(planned.cost)
                task = Task(run_id=name, item_id=task_id, repo=repo, attempt_offset=offset)
                outcome = await driver.run(
                    task, make_request=make_request, validate=validate,
                    converge=self._converge(rng) if converge and preset == "diverge-converge" else None,
                )  # fmt: skip
                if outcome.shipped is not None:
                    if outcome.shipped.text.startswith("resolved"):
                        shipped_right += 1
                    else:
                        shipped_wrong += 1
                steps = []
                for number, tried in enumerate(outcome.tried, start=offset):
                    verdict, model = verdicts.get((task_id, number), (tried.verdict, ""))
                    first = number - offset < width  # the diverge round runs at once
                    steps.append(Step(tried.tier, model, verdict, float(tried.cost), 0 if first else number))
                trace.append((task_id, plan_cost, steps))
            result.traces.append(trace)
            spent += ledger.spent(Scope(run_id=name))
            ledger.close()
        n = self.seeds * len(self.data.instances)
        result.success, result.false_ship, result.usd = shipped_right / n, shipped_wrong / n, float(spent) / n
        return result


@dataclass(frozen=True)
class Speculation:
    name: str
    hours: float  # sequential
    hours_speculative: float
    usd: float  # sequential, per task
    extra_usd: float  # lost to cancelled attempts, per task
    cancelled: int
    adopted: int


def speculate(r: Result, data: Outcomes, a: Assumptions) -> Speculation:
    """Time and money of ``r``'s traces with speculative escalation, on the time model above."""
    assert r.policy is not None
    sequential = spec_total = extra = 0.0
    cancelled = adopted = 0
    for trace in r.traces:
        lost = 0.0  # per run, against the cap
        for task, _plan_cost, steps in trace:
            plan_s = a.plan_calls * a.s_per_call if r.preset == "planner-executor" else 0.0
            rounds: dict[int, list[Step]] = {}
            for s in steps:
                rounds.setdefault(s.round, []).append(s)
            durations = [max(a.s_per_call * data.calls[s.model][task] for s in g) for g in rounds.values()]
            singles = [len(g) == 1 for g in rounds.values()]
            sequential += plan_s + sum(d + a.validation_s for d in durations)
            call_end = plan_s + durations[0]
            val_end = call_end + a.validation_s
            for k in range(1, len(durations)):
                may = singles[k - 1] and singles[k] and (a.spec_cap_usd is None or lost < a.spec_cap_usd)
                start = call_end if may else val_end
                adopted += may
                call_end = start + durations[k]
                val_end = max(call_end, val_end) + a.validation_s
            spec_total += val_end
            last = steps[-1]
            if last.verdict is not Verdict.PASSED or not singles[-1]:
                continue
            if a.spec_cap_usd is not None and lost >= a.spec_cap_usd:
                continue
            # The attempt the policy would have made had the last one failed: started, then cancelled.
            tried = tuple(Tried(s.tier, s.verdict, Decimal(str(s.cost))) for s in steps[:-1])
            ctx = EscalationContext(
                Purpose.CHANGE, r.tiers, (*tried, Tried(last.tier, Verdict.FAILED, Decimal(str(last.cost))))
            )
            nxt = r.policy.decide(ctx)
            if not isinstance(nxt, Attempt) or nxt.parallel != 1:
                continue
            model = r.first_model[nxt.tier]
            free = "$0" in r.name and nxt.tier == "local"
            d = a.s_per_call * data.calls[model][task]
            cost = 0.0 if free else data.cost[model][task] * min(1.0, a.validation_s / d if d else 1.0)
            lost += cost
            extra += cost
            cancelled += 1
    n = sum(len(t) for t in r.traces)
    return Speculation(r.name, sequential / 3600, spec_total / 3600, r.usd, extra / n, cancelled, adopted)


def agreement_floor(data: Outcomes, cheap: list[str], premium: str) -> tuple[int, float]:
    """The tasks at most one of ``cheap`` resolves, and ``premium``'s logged cost on them per task:
    where two different cheap models cannot agree on a right change, only the premium tier's can
    corroborate (or, with none right, replace) it, so converging by agreement pays at least this."""
    lone = [t for t in data.instances if sum(t in data.resolved[m] for m in cheap) <= 1]
    return len(lone), sum(data.cost[premium][t] for t in lone) / len(data.instances)


def oracle(data: Outcomes) -> tuple[float, float]:
    """The cheapest model that resolves each task, known in hindsight; no validator."""
    solved, cost = 0, 0.0
    for task in data.instances:
        costs = [data.cost[m][task] for m in data.resolved if task in data.resolved[m]]
        if costs:
            solved += 1
            cost += min(costs)
    return solved / len(data.instances), cost / len(data.instances)


def row(r: Result, best_usd: float) -> str:
    saving = 1 - r.usd / best_usd if best_usd else 0.0
    return f"{r.name:<58} {r.success:>7.1%} {r.false_ship:>7.1%} {r.usd:>9.3f} {saving:>8.0%}"


PRESETS: tuple[Preset, ...] = (
    "single-model", "local-first", "three-tier", "planner-executor", "diverge-converge", "adaptive",
)  # fmt: skip


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    d = Assumptions()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tpr", type=float, default=None, help=f"default: measured, else {ASSUMED_TPR}")
    parser.add_argument("--fpr", type=float, default=None, help=f"default: measured, else {ASSUMED_FPR}")
    parser.add_argument("--plan-calls", type=int, default=d.plan_calls)
    parser.add_argument("--plan-uplift", type=float, default=d.plan_uplift)
    parser.add_argument("--wrong-test-passes-right", type=float, default=d.wrong_test_passes_right)
    parser.add_argument("--wrong-agree", type=float, default=d.wrong_agree)
    parser.add_argument("--s-per-call", type=float, default=d.s_per_call)
    parser.add_argument("--validation-s", type=float, default=d.validation_s)
    parser.add_argument("--spec-cap", type=float, default=5.0, help="USD lost to speculation per seed-run")
    parser.add_argument("--bound-seeds", type=int, default=10, help="seeds of bench/converge_bound.py's search")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    measured = _measured_validator()
    args.tpr = args.tpr if args.tpr is not None else (measured[0] if measured else ASSUMED[0])
    args.fpr = args.fpr if args.fpr is not None else (measured[1] if measured else ASSUMED[1])
    print(
        f"validator: measured by bench/fidelity.py TPR {measured[0]:.3f}, FPR {measured[1]:.3f}; assumed "
        f"TPR {ASSUMED[0]}, FPR {ASSUMED[1]}"
        if measured
        else f"validator: no {FIDELITY} yet (run bench/fidelity.py); assumed TPR {ASSUMED[0]}, FPR {ASSUMED[1]}"
    )
    started = time.perf_counter()
    data = load(args.data)
    a = Assumptions(
        args.tpr, args.fpr, args.plan_calls, args.plan_uplift, args.wrong_test_passes_right,
        args.wrong_agree, args.s_per_call, args.validation_s,
    )  # fmt: skip
    replay = Replay(data, seeds=args.seeds, assume=a)
    three = [("local", LOCAL), ("fast", FAST), ("premium", PREMIUM)]

    singles = [await replay.run(m, "single-model", [("only", [m])]) for m in data.resolved]
    best = next(r for r in singles if r.name == BEST_SINGLE)
    presets: list[Result] = []
    extra: list[Result] = []
    labels = ("local at API price", "local at $0")
    for free, label in zip((False, True), labels, strict=True):
        for preset in PRESETS:
            tiers = three if preset != "single-model" else [("premium", PREMIUM)]
            presets.append(await replay.run(f"{preset} ({label})", preset, tiers, free_local=free))
        extra.append(await replay.run(
            f"diverge, first to validate ships ({label})", "diverge-converge", three, free_local=free, converge=False
        ))  # fmt: skip
        extra.append(await replay.run(
            f"diverge-converge, first round of 2 ({label})", "diverge-converge", three,
            free_local=free, first_round=2,
        ))  # fmt: skip

    header = f"{'configuration':<58} {'success':>7} {'false':>7} {'USD/task':>9} {'saving':>8}"
    print(f"replay: {len(data.instances)} tasks x {args.seeds} seeds; validator TPR {a.tpr}, FPR {a.fpr}")
    print(f"tiers: local={LOCAL[0]} (diverge: {', '.join(LOCAL)}); fast={FAST[0]}; premium={PREMIUM[0]}")
    print(f"saving is against the best single model, {BEST_SINGLE}, under the same validator")
    print(
        f"assumed: plan = {a.plan_calls} premium calls, uplift {a.plan_uplift}; cross-checks: wrong test passes "
        f"right code {a.wrong_test_passes_right}, wrong changes pass each other's tests {a.wrong_agree}\n"
    )
    print(header)
    print("-" * len(header))
    for r in [*presets, *extra]:
        print(row(r, best.usd))
    print("-" * len(header))
    for r in sorted(singles, key=lambda r: -r.success):
        print(row(r, best.usd))
    solved, cost = oracle(data)
    print("-" * len(header))
    label = "oracle (cheapest model that resolves each task, no validator)"
    print(f"{label:<58} {solved:>7.1%} {0:>7.1%} {cost:>9.3f}")

    print(
        "\nplanner-executor at several plan uplifts (P[a wrong executor attempt is right given a good plan])"
    )
    print(header)
    for uplift in (0.0, 0.1, 0.2, 0.4):
        for free, label in zip((False, True), labels, strict=True):
            r = await replay.run(f"planner-executor, uplift {uplift} ({label})", "planner-executor", three,
                                 free_local=free, uplift=uplift)  # fmt: skip
            print(row(r, best.usd))

    print(
        "\ndiverge-converge (local at $0) at other cross-check rates: rows P[a wrong change passes another"
        " wrong one's test], columns P[a right change passes a wrong one's test]; success / false-ship / USD"
    )
    for wrong_agree in (0.25, 0.5, 0.75):
        cells = []
        for passes_right in (0.25, 0.5, 0.75):
            replay.a = dataclasses.replace(a, wrong_agree=wrong_agree, wrong_test_passes_right=passes_right)
            r = await replay.run("grid", "diverge-converge", three, free_local=True)
            cells.append(f"{r.success:6.1%} {r.false_ship:5.1%} {r.usd:6.3f}")
        print(f"  {wrong_agree:<5}  " + "  |  ".join(cells))
    replay.a = a

    by = {r.name: r for r in presets}
    print(
        f"\nspeculative escalation (time model: {a.s_per_call:g} s per logged API call, validation "
        f"{a.validation_s:g} s; cap ${args.spec_cap:g} lost per {len(data.instances)}-task run, and uncapped)"
    )
    print(
        "task h: hours from each task's start to its verdict, summed over tasks and seeds; diverge-converge"
    )
    print("is left out: its first round runs in parallel already")
    sh = f"{'configuration':<46} {'cap':>6} {'task h':>7} {'spec h':>7} {'saved':>6} {'USD/task':>9} {'+USD/task':>10} {'cancelled':>9}"
    print(sh)
    print("-" * len(sh))
    for name in (
        f"{p} ({lbl})"
        for lbl in labels
        for p in ("local-first", "three-tier", "planner-executor", "adaptive")
    ):
        for cap in (args.spec_cap, None):
            s = speculate(by[name], data, Assumptions(**{**a.__dict__, "spec_cap_usd": cap}))
            saved = 1 - s.hours_speculative / s.hours if s.hours else 0.0
            print(
                f"{s.name:<46} {'none' if cap is None else f'${cap:g}':>6} {s.hours:>7.1f} {s.hours_speculative:>7.1f} "
                f"{saved:>6.1%} {s.usd:>9.3f} {s.extra_usd:>10.4f} {s.cancelled:>9}"
            )

    target = [r for r in presets if r.success >= 0.75 and r.usd <= 0.20 and r.false_ship <= 0.10]
    adaptive_ok = all(
        by[f"adaptive ({lbl})"].success >= by[f"three-tier ({lbl})"].success - 1e-9
        and by[f"adaptive ({lbl})"].usd <= by[f"three-tier ({lbl})"].usd + 1e-9
        for lbl in labels
    )
    met = ", ".join(r.name for r in target) or "MISSED"
    print(f"\ntarget (>=75% success, <=$0.20/task, <=10% false-ship): {met}")
    print(f"adaptive no worse than three-tier on success and cost: {'yes' if adaptive_ok else 'NO'}")
    for lbl in labels:
        dc, tt = by[f"diverge-converge ({lbl})"], by[f"three-tier ({lbl})"]
        ok = dc.false_ship <= tt.false_ship + 1e-9
        cheaper = dc.usd < tt.usd
        print(
            f"diverge-converge false-ship {dc.false_ship:.1%} vs three-tier {tt.false_ship:.1%} ({lbl}): "
            f"{'at or below' if ok else 'ABOVE'}, at {'lower' if cheaper else 'HIGHER'} cost "
            f"(${dc.usd:.3f} vs ${tt.usd:.3f})"
        )
    lone, floor = agreement_floor(data, [*LOCAL, *FAST], PREMIUM[0])
    print(
        f"why: agreement between different models needs the premium tier on the {lone} tasks "
        f"({lone / len(data.instances):.1%}) that at most one of the {len(LOCAL) + len(FAST)} cheap models resolves; "
        f"premium's logged cost on them alone is ${floor:.3f}/task, three-tier's whole cost "
        f"${by['three-tier (local at $0)'].usd:.3f} (local at $0)"
    )
    await rules_tried(data, a, three, seeds=args.seeds)
    bound(data, a, seeds=args.bound_seeds)
    if (args.tpr, args.fpr) != ASSUMED:
        assumed = Replay(data, seeds=args.seeds, assume=Assumptions(**{**a.__dict__, "tpr": ASSUMED[0], "fpr": ASSUMED[1]}))
        print(f"\nthe same presets under the assumed validator (TPR {ASSUMED[0]}, FPR {ASSUMED[1]}):")
        for free, lbl in zip((False, True), labels, strict=True):
            for preset in PRESETS:
                r = by[f"{preset} ({lbl})"]
                tiers = three if preset != "single-model" else [("premium", PREMIUM)]
                other = await assumed.run(r.name, preset, tiers, free_local=free)
                print(
                    f"  {r.name:<56} success {r.success:.1%} vs {other.success:.1%}, false-ship "
                    f"{r.false_ship:.1%} vs {other.false_ship:.1%}, USD/task {r.usd:.3f} vs {other.usd:.3f}"
                )
    print(f"elapsed {time.perf_counter() - started:.1f}s")
    return 0


# diverge-converge rules tried for issue 17 ("false-ship at or below three-tier's, at lower cost"):
# fields of bot/routing/presets.py's DivergeConverge, run through the same driver and policy.
RULES: tuple[tuple[str, dict[str, object]], ...] = (
    ("as shipped: agreement; the top tier corroborates a lone one", {}),
    ("(a) one rung at a time: one draw per cheap tier while held", {"held_draws": 1}),
    ("(b) first round of 1 (local draws one at a time)", {"first_round": 1}),
    ("(b) first round of 2", {"first_round": 2}),
    ("a lone uncontradicted one ships instead of the top tier", {"top_corroborates": False}),
    ("  the same, one rung at a time", {"top_corroborates": False, "held_draws": 1}),
    ("  the same, two draws per cheap tier while held", {"top_corroborates": False, "held_draws": 2}),
    ("  the same, first round of 1", {"top_corroborates": False, "first_round": 1}),
    ("  the same, first round of 2", {"top_corroborates": False, "first_round": 2}),
)


async def rules_tried(data: Outcomes, a: Assumptions, three: list[tuple[str, list[str]]], *, seeds: int) -> None:
    """Each rule beside three-tier, under this validator and the assumed one (local at $0)."""
    validators = [("this validator", a)]
    if (a.tpr, a.fpr) != ASSUMED:
        validators.append(("assumed", dataclasses.replace(a, tpr=ASSUMED[0], fpr=ASSUMED[1])))
    print(
        "\ndiverge-converge rules tried (local at $0): success / false-ship / USD per task; 'meets': false-ship "
        "at or below three-tier's and cost below it"
    )
    print(f"{'rule':<62} " + "  ".join(f"{f'{label} (TPR {v.tpr:.2f}, FPR {v.fpr:.3f})':<40}" for label, v in validators))
    replays = [Replay(data, seeds=seeds, assume=v) for _, v in validators]
    base = [await r.run("three-tier", "three-tier", three, free_local=True) for r in replays]
    print(f"{'three-tier':<62} " + "  ".join(f"{_cells(t, None):<40}" for t in base))
    for label, variant in RULES:
        results = [await r.run(label, "diverge-converge", three, free_local=True, variant=variant) for r in replays]
        print(f"{label:<62} " + "  ".join(f"{_cells(x, t):<40}" for x, t in zip(results, base, strict=True)))


def _cells(r: Result, three: Result | None) -> str:
    cells = f"{r.success:6.1%} {r.false_ship:5.1%} {r.usd:6.3f}"
    if three is None:
        return cells
    meets = r.false_ship <= three.false_ship + 1e-9 and r.usd < three.usd
    return cells + ("  meets" if meets else "")


def bound(data: Outcomes, a: Assumptions, *, seeds: int) -> None:
    """bench/converge_bound.py: the cheapest any lone-shipping rule gets at three-tier's false-ship."""
    if str(REPO) not in sys.path:  # run as a script (python bench/replay.py): bench is not installed
        sys.path.insert(0, str(REPO))
    from bench.converge_bound import LADDERS, Bound, best_under, paired

    models = [*LOCAL, *FAST, *PREMIUM]
    limited = {m: {t for t in data.instances if data.calls[m][t] >= 250 or data.cost[m][t] >= 2.95} for m in models}
    print(
        "\nbound (bench/converge_bound.py; local at $0; rules that know each model's true resolve rate and"
        " weigh the evidence optimally:\na lone candidate ships when P[wrong | validated, siblings' red-proven tests]"
        f" <= tau, every tau, {len(LADDERS)} ladders;"
        f" {seeds} seeds). q: P[a test by a sibling whose change failed is right]"
        " (the best published\nreproduction-test rate, SWT-bench Verified, is 43.6%); wrong tests pass right code"
        f" {a.wrong_test_passes_right}, wrong code {a.wrong_agree}"
    )
    validators = [(a.tpr, a.fpr)] + ([ASSUMED] if (a.tpr, a.fpr) != ASSUMED else [])
    for tpr, fpr in validators:
        b = Bound(
            data.instances, models, data.resolved, data.cost, limited, free=len(LOCAL), tpr=tpr, fpr=fpr,
            wrong_test_passes_right=a.wrong_test_passes_right, wrong_agree=a.wrong_agree,
        )  # fmt: skip
        for q in (0.2, 0.44, 0.6, 0.8):
            points = b.frontier(q, seeds)
            three = points[0]  # the three-tier ladder at tau 1: three-tier itself, on the same draws
            best = best_under(points, three.false_ship)
            assert best is not None  # three-tier itself qualifies
            gain = 1 - best.usd / three.usd
            df, df_se, du, du_se = paired(best, three)
            verdict = (
                f"cheaper by {gain:.1%}, USD {du:+.4f} +- {du_se:.4f}, false-ship {df:+.2%} +- {df_se:.2%} (seed SE): "
                f"{best.ladder}, tau {best.tau}"
                if best.usd < three.usd
                else "none cheaper"
            )
            print(
                f"  TPR {tpr:.2f} FPR {fpr:.3f} q {q:<4}: three-tier {three.false_ship:.2%} ${three.usd:.4f}; "
                f"cheapest at or below its false-ship {best.false_ship:.2%} ${best.usd:.4f} ({verdict})"
            )


REPO = Path(__file__).resolve().parents[1]
# The validator's fidelity: measured on real projects by bench/fidelity.py when it has run.
FIDELITY = Path(__file__).resolve().parent / "results" / "fidelity.json"
ASSUMED = (ASSUMED_TPR, ASSUMED_FPR)


def _measured_validator() -> tuple[float, float] | None:
    try:
        data = json.loads(FIDELITY.read_text(encoding="utf-8"))
        return float(data["tpr"]), float(data["fpr"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
