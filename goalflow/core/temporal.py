"""Connecting to Temporal: one place for the data converter, TLS and API-key settings."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, TLSConfig

from goalflow.core.settings import Settings
from goalflow.core.tracing import client_interceptors


def _tls(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=Path(settings.temporal_tls_cert).read_bytes(),
            client_private_key=Path(settings.temporal_tls_key).read_bytes(),
            server_root_ca_cert=(
                Path(settings.temporal_tls_ca).read_bytes() if settings.temporal_tls_ca else None
            ),
        )
    # Temporal Cloud API keys travel over TLS.
    return bool(settings.temporal_api_key)


def _client_options(settings: Settings) -> dict[str, Any]:
    """What every client of ours is connected with: namespace, converter, TLS, API key."""
    return {
        "namespace": settings.temporal_namespace,
        "data_converter": pydantic_data_converter,
        "tls": _tls(settings),
        "api_key": settings.temporal_api_key,
        "interceptors": client_interceptors(settings),
    }


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    options = _client_options(settings)
    return await Client.connect(settings.temporal_address, runtime=runtime, **options)


log = structlog.get_logger("goalflow.temporal")

# Backoff between attempts to reach Temporal: 1 s, 2 s, 4 s … then every 30 s, ±20 % so that
# many workers restarted together do not knock in step.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


async def connect_patiently(
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    stop: asyncio.Event | None = None,
    first_delay: float = FIRST_RETRY_SECONDS,
    max_delay: float = MAX_RETRY_SECONDS,
) -> Client | None:
    """Connect, waiting for Temporal as long as it takes: each failed attempt is logged and
    retried with backoff. None when `stop` is set meanwhile. Settings errors (a missing TLS
    file) are raised at once: waiting would not fix them."""
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            client = await connect(settings, runtime)
        except (RuntimeError, RPCError) as err:
            wait = delay * random.uniform(0.8, 1.2)
            log.warning(
                "Temporal unreachable, retrying",
                address=settings.temporal_address,
                attempt=attempt,
                retry_in_s=round(wait, 1),
                error=(str(err).splitlines() or [""])[0][:200],
            )
            delay = min(delay * 2, max_delay)
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return None
            continue
        log.info("connected to Temporal", address=settings.temporal_address, attempt=attempt)
        return client


async def lazy_client(settings: Settings) -> Client:
    """A client that connects on first use, so a process can start before Temporal is up."""
    return await Client.connect(settings.temporal_address, lazy=True, **_client_options(settings))
