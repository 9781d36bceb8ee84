"""What a provider webhook that answers 404 lacks: the setting that turns it on."""

from __future__ import annotations

from collections.abc import Iterable

from api.providers import Provider
from goalflow.core.settings import Settings


def enabling_settings(handler: Provider, settings: Settings) -> list[str]:
    """The environment variables whose value would turn the provider's webhook on: the
    settings its secret is read from (found by trying each, so no list to keep in step)."""
    return [
        field.alias or name
        for name, field in Settings.model_fields.items()
        if handler.secret(settings.model_copy(update={name: "set"}))
    ]


def provider_off(
    provider: str, handler: Provider | None, known: Iterable[str], settings: Settings
) -> str:
    """The 404's message for `POST /v1/hooks/{provider}`: an unknown provider, or one whose
    secret is not set."""
    if handler is None:
        return f"no provider {provider!r}: the providers are {', '.join(sorted(known))}"
    names = enabling_settings(handler, settings) or ["its secret"]
    return f"the {provider} webhook is off: set {' or '.join(names)} to enable it"
