"""What a call costs: the genai-prices catalog, config overrides, or GPU time for self-hosted models.

All amounts are ``Decimal`` USD. A model the catalog does not know, with no explicit price, is a
``PricingError`` (found at config check), never a silent zero.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from genai_prices import Usage as CatalogUsage
from genai_prices import calc_price

from bot.config import GpuPrice, TokenPrice, _ProviderBase
from bot.errors import PricingError
from bot.models.base import Usage

MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)
# Ledger precision: a picodollar. Cached-token prices reach 1e-9 USD per token, so coarser units
# would round real spend to zero.
QUANTUM = Decimal("1e-12")


def _token_cost(price: TokenPrice, usage: Usage) -> Decimal:
    cache_read = price.cache_read_per_mtok if price.cache_read_per_mtok is not None else price.input_per_mtok
    cache_write = (
        price.cache_write_per_mtok if price.cache_write_per_mtok is not None else price.input_per_mtok
    )
    plain_input = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
    total = (
        plain_input * price.input_per_mtok
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
        + usage.output_tokens * price.output_per_mtok
    ) / MILLION
    return total.quantize(QUANTUM)


@functools.lru_cache(maxsize=256)
def _catalog_cost(
    model_ref: str,
    provider_id: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
) -> Decimal:
    usage = CatalogUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    try:
        result = calc_price(usage, model_ref, provider_id=provider_id)
    except LookupError as exc:
        where = f" from provider {provider_id!r}" if provider_id else ""
        raise PricingError(f"no price known for model {model_ref!r}{where}") from exc
    return Decimal(result.total_price).quantize(QUANTUM)


def _ref(provider: _ProviderBase) -> tuple[str, str | None]:
    ref = provider.price_ref or provider.model
    hint = provider.price_provider
    if hint is None and isinstance(getattr(provider, "type", None), str) and provider.type == "anthropic":  # type: ignore[attr-defined]
        hint = "anthropic"
    return ref, hint


def call_cost(provider: _ProviderBase, usage: Usage, *, latency_s: float) -> Decimal:
    """The real cost of a finished call."""
    price = provider.price
    if isinstance(price, TokenPrice):
        return _token_cost(price, usage)
    if isinstance(price, GpuPrice):
        return (price.gpu_usd_per_hour * Decimal(str(latency_s)) / SECONDS_PER_HOUR).quantize(QUANTUM)
    ref, hint = _ref(provider)
    return _catalog_cost(
        ref, hint, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
    )


def worst_case_cost(provider: _ProviderBase, *, prompt_tokens: int, max_tokens: int) -> Decimal:
    """The most a call can cost: the whole prompt uncached, every allowed output token, or for a
    self-hosted model the GPU for the whole timeout."""
    if isinstance(provider.price, GpuPrice):
        return (
            provider.price.gpu_usd_per_hour * Decimal(str(provider.timeout_s)) / SECONDS_PER_HOUR
        ).quantize(QUANTUM)
    return call_cost(provider, Usage(input_tokens=prompt_tokens, output_tokens=max_tokens), latency_s=0.0)


def check_price(provider: _ProviderBase) -> None:
    """Raise ``PricingError`` when this provider's calls could not be priced."""
    if provider.price is None:
        ref, hint = _ref(provider)
        _catalog_cost(ref, hint, 1, 1, 0, 0)
