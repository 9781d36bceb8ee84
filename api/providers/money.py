"""What the commerce providers (Stripe, Shopify) share: amounts in minor units and the data
a payment or order event carries for goal criteria (`product`, `amount_at_least`, `currency`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 4217 currencies without minor units: an amount of 500 JPY is 500, not 50000.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF", "ISK"}
)
# Larger amounts are no amount (JSON numbers past 2^53 lose precision in most readers).
MAX_AMOUNT = 2**53


def minor_units(amount: Any, currency: str | None) -> int | None:
    """A decimal amount as a string ("12.34", Shopify's way) in minor units (1234)."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        return None
    places = 0 if (currency or "").upper() in ZERO_DECIMAL else 2
    return int(value.scaleb(places).to_integral_value())


def money_data(
    provider: str,
    amount: Any,
    currency: Any,
    products: list[str],
    **extra: Any,
) -> dict[str, Any]:
    """The event's data: `amount` in minor units, `currency` lower case, `products` the
    provider's product ids (strings)."""
    data: dict[str, Any] = {"provider": provider, "products": products}
    if isinstance(amount, int) and not isinstance(amount, bool) and abs(amount) < MAX_AMOUNT:
        data["amount"] = amount
    if isinstance(currency, str) and currency:
        data["currency"] = currency.lower()
    data.update({k: v for k, v in extra.items() if v is not None})
    return data
