"""`GOALFLOW_ENV=production`: refuse to start on settings that are only fit for a laptop.

The shipped defaults (goalflow/core/settings.py) and the values of `.env.example` make the stack run
out of the box, which also means anyone who reads the repository knows them: a deployment that
forgot to replace them signs tracking links and webhooks with a public secret, or serves `/v1`
without authentication. In production the API and the worker check their settings at start and
exit with the list of what to fix.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from goalflow.core.settings import Settings

# Every placeholder secret goalflow ships: the defaults of goalflow/core/settings.py and the
# values of .env.example (tests/test_production_settings.py keeps this list in step with both).
PLACEHOLDER_SECRETS = frozenset(
    {
        "goalflow-dev-secret-change-me",
        "change-me-to-a-long-random-string",
        "whsec_Z29hbGZsb3ctZGV2LXdlYmhvb2stc2VjcmV0",
        "whsec_Y2hhbmdlLW1lLWNoYW5nZS1tZS1jaGFuZ2UtbWU=",
    }
)
# Shortest GOALFLOW_SECRET accepted in production (`secrets.token_urlsafe(48)` gives 64).
MIN_SECRET_LENGTH = 32
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})

Role = Literal["api", "worker"]


class UnsafeProductionSettings(Exception):
    """The settings are not fit for production; the message says what to change."""

    def __init__(self, role: Role, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"goalflow {role}: GOALFLOW_ENV=production, but the settings are not fit for "
            f"production:\n{lines}\nSee the production checklist in docs/deploy.md."
        )


def _is_placeholder(value: str) -> bool:
    return value in PLACEHOLDER_SECRETS or "change-me" in value.lower()


def production_problems(settings: Settings, role: Role) -> list[str]:
    """What keeps these settings from being used in production by `role` (empty: nothing)."""
    problems: list[str] = []
    secrets = [s.strip() for s in settings.secret.split(",")]
    if not any(secrets):
        problems.append("GOALFLOW_SECRET is empty: set a long random string")
    for secret in filter(None, secrets):
        if _is_placeholder(secret):
            problems.append(
                "GOALFLOW_SECRET is a placeholder shipped with goalflow: set a random string "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        elif len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"GOALFLOW_SECRET has {len(secret)} characters: use at least {MIN_SECRET_LENGTH}"
            )
    if not settings.webhook_secret.strip() or _is_placeholder(settings.webhook_secret):
        problems.append(
            "GOALFLOW_WEBHOOK_SECRET is a placeholder shipped with goalflow: set a random one "
            "(.env.example shows how)"
        )
    host = urlsplit(settings.public_url).hostname or ""
    if host in LOCAL_HOSTS:
        problems.append(
            f"GOALFLOW_PUBLIC_URL is {settings.public_url}: tracking and trigger links in "
            "messages must point at the API's public address"
        )
    if settings.dev_mode:
        problems.append("GOALFLOW_DEV is on: development routes (the dev outbox) must stay off")
    if role == "api" and not settings.api_key_list:
        problems.append("GOALFLOW_API_KEYS is empty: every /v1 route would be open to anyone")
    return problems


def require_production_ready(settings: Settings, role: Role) -> None:
    """Raise UnsafeProductionSettings when GOALFLOW_ENV=production and the settings are not fit."""
    if settings.env != "production":
        return
    problems = production_problems(settings, role)
    if problems:
        raise UnsafeProductionSettings(role, problems)
