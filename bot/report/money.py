"""One way to show money: the same amount reads the same in the terminal, reports, PRs and JSON."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")
_SIGNIFICANT = 4


def usd(amount: Decimal) -> str:
    """``$1.23`` from a dollar up (cents are what matter there); below, 4 significant digits
    (``$0.01235``, ``$0.000004``), because cheap tiers cost fractions of a cent and would all read
    ``$0.00``. Never an exponent, never twelve decimals."""
    if amount.is_nan() or amount.is_infinite():
        return f"${amount}"
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    if value == 0:
        return "$0.00"
    if value < 1:
        places = _SIGNIFICANT - 1 - value.adjusted()
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if rounded < 1:
            text = format(rounded, "f").rstrip("0")
            whole, _, frac = text.partition(".")
            return f"{sign}${whole}.{frac.ljust(2, '0')}"
        value = rounded
    return f"{sign}${value.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def decimal_str(amount: Decimal) -> str:
    """A Decimal for JSON: a plain decimal string, exact, without an exponent (``0E-12`` -> ``0``)."""
    if amount == 0:
        return "0"
    text = format(amount.normalize(), "f")
    return text
