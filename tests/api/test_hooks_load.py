"""1,000 signed Mailgun events posted as Mailgun sends them (one per request, 20 at a time): each
accepted exactly once, no error (retries are tested in test_hooks_email.py). The rate is
printed, not asserted (figures come from `python -m goalflow_bench.hooks`)."""

from __future__ import annotations

from goalflow_bench.hooks import post_mailgun_events
from tests.support.provider_signing import MAILGUN_KEY, hook_stack
from tests.support.stack import Stack

__all__ = ["hook_stack"]


async def test_a_thousand_mailgun_events_are_accepted_once(hook_stack: Stack) -> None:
    load = await post_mailgun_events(
        hook_stack.http,
        mailgun_key=MAILGUN_KEY,
        secret=hook_stack.settings.secret,
        events=1000,
        contacts=100,
        concurrency=20,
    )
    print(f"\n{load.events} Mailgun events: {load.rate:.0f}/s")
    assert load.statuses == {200: 1000}
    assert (load.accepted, load.duplicates, load.ignored) == (1000, 0, 0)
