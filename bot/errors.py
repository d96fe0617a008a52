"""Every error the bot raises, in one tree.

Foreign exceptions (SDKs, sqlite, tomllib) are translated once, at the adapter that meets them, with
``raise ... from`` so the cause stays visible. Callers catch the narrowest branch they can act on:
the router retries ``ProviderUnavailable`` and ``RateLimited``, falls back on ``ProviderRejected``,
and never catches ``BudgetExceeded`` or ``ScriptError``.

    BotError
    ├── ConfigError                config file missing, unparsable or invalid (carries every issue)
    │   └── PreflightError         a tier the run needs cannot serve (key unset, endpoint down, ...)
    ├── UsageError                 the command line asks for something that cannot be done
    ├── PricingError               no price known for a model, or a price that cannot be computed
    ├── ProviderError              one call to one provider failed
    │   ├── ProviderUnavailable    timeout, connection failure, 5xx: transient, retried
    │   │   └── DeadlineExceeded   no whole answer within the call's overall deadline
    │   ├── RateLimited            429; carries retry_after seconds when the server sent one
    │   ├── ProviderRejected       any other 4xx: the request itself is wrong, never retried
    │   └── MalformedResponse      the server answered, but not with a usable body
    ├── ScriptError                the scripted provider has no rule for a request, or a bad script
    ├── RoutingError               no provider of a tier could serve the call (wraps the last errors)
    ├── BudgetExceeded             a call's worst case would pass a budget limit; nothing was spent
    ├── LedgerError                the cost ledger could not be read or written
    ├── ChecklistError             a checklist file is broken (every problem, with its line and fix)
    ├── PlanningError              no usable plan: every tier's answers were unusable, or nothing to plan
    ├── EventError                 a webhook payload the bot handles lacks what it needs
    ├── GitHubError                a GitHub API call failed (status, and what was being done)
    │   └── GitHubRateLimited      403/429 secondary rate limit; carries retry_after seconds
    └── WorkspaceError             git worktrees, or a command that cannot be run as asked
        ├── UnsafePath             a path outside the worktree, in .git, on the deny list...
        ├── SandboxUnavailable     repository code would run unisolated and the config does not accept it
        └── PushRejected           a push without force refused: the branch moved meanwhile
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# The one money formatter (a leaf module: no import of the bot's own), so that a budget message
# reads "$0.00 spent", never "$0E-12 spent".
from bot.report.money import usd


class BotError(Exception):
    """Root of the tree: ``except BotError`` catches every failure the bot itself reports."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where it is, what is wrong, and how to fix it."""

    file: str
    key: str
    problem: str
    fix: str = ""

    def render(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")


class ConfigError(BotError):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(issue.render() for issue in issues))


class PreflightError(ConfigError):
    """Raised before anything is spent or created: the run would fail every call of a tier."""


class UsageError(BotError):
    """A user error on the command line (a missing file, an unknown run): one line, exit code 2."""


class PricingError(BotError):
    pass


class ProviderError(BotError):
    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        super().__init__(f"{provider}: {message}" if provider else message)


class ProviderUnavailable(ProviderError):
    pass


class DeadlineExceeded(ProviderUnavailable):
    """The call's overall deadline passed (a slow or dripping answer); it may have been billed."""


class RateLimited(ProviderError):
    def __init__(
        self, message: str, *, provider: str = "", status: int | None = 429, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, status=status)


class ProviderRejected(ProviderError):
    pass


class MalformedResponse(ProviderError):
    pass


class ScriptError(BotError):
    pass


class RoutingError(BotError):
    def __init__(self, message: str, *, errors: tuple[BotError, ...] = ()) -> None:
        self.errors = errors
        detail = "; ".join(str(e) for e in errors)
        super().__init__(f"{message}: {detail}" if detail else message)


class BudgetExceeded(BotError):
    def __init__(self, *, limit: str, limit_usd: Decimal, spent_usd: Decimal, needed_usd: Decimal) -> None:
        self.limit = limit
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.needed_usd = needed_usd
        super().__init__(
            f"budget {limit} of {usd(limit_usd)} would be exceeded: {usd(spent_usd)} spent or reserved, "
            f"this call may cost up to {usd(needed_usd)}"
        )


class LedgerError(BotError):
    pass


class WorkspaceError(BotError):
    pass


class PushRejected(WorkspaceError):
    """The remote branch is no longer where the work started (someone pushed): never forced over."""


class UnsafePath(WorkspaceError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SandboxUnavailable(WorkspaceError):
    """The host cannot isolate repository code and the config requires isolation."""


@dataclass(frozen=True)
class ChecklistProblem:
    line: int  # 1-based; 0 when the problem has no single line
    problem: str
    fix: str = ""

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")


class ChecklistError(BotError):
    def __init__(self, file: str, problems: list[ChecklistProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


class PlanningError(BotError):
    pass


class EventError(BotError):
    """A webhook payload of an event the bot handles is missing what it needs."""


class GitHubError(BotError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class GitHubRateLimited(GitHubError):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class ValidationEnvironmentError(BotError):
    """The project's environment cannot run its tests (setup failed, interpreter missing)."""
