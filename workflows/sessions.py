"""DashboardLogoutWorkflow: the record that a dashboard session was logged out.

The dashboard's session is a signed cookie (api/dashboard_auth.py), so a copy of it would stay
valid until it expires unless something outside the cookie says otherwise. Logging out starts
one of these, with the workflow id `dashboard-logout:{session id}`; every API process checks
that id (a describe call: no worker involved) before serving a logged-in page. The workflow only
waits until the session would have expired anyway, then completes: Temporal holds at most one
record per session logged out in the last session lifetime, and forgets them by itself.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

LOGOUT_PREFIX = "dashboard-logout:"


@workflow.defn
class DashboardLogoutWorkflow:
    @workflow.run
    async def run(self, expires_at: float) -> None:
        """`expires_at`: when the session expires, in seconds since the epoch (UTC)."""
        remaining = expires_at - workflow.now().timestamp()
        if remaining > 0:
            await workflow.sleep(timedelta(seconds=remaining), summary="until the session expires")
