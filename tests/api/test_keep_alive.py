"""The API keeps idle connections open longer than its callers (GOALFLOW_HTTP_KEEP_ALIVE_SECONDS).

A server that closes an idle connection at the moment a client sends a request on it resets that
request: the client sees a failed call (httpx's ReadError), a proxy answers 502. uvicorn's default
keep-alive is 5 s, as long as httpx's own pool keeps a connection, so the two raced."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.stack import Stack, free_port

IDLE = 6.0  # past uvicorn's 5 s default, well within goalflow's 75 s


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One GET /healthz on an open connection; the status line of the answer."""
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), 30)
    return head.split(b"\r\n", 1)[0]


async def _served_after_idle(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await _ask(reader, writer) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(IDLE)
        try:
            return await _ask(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError) as err:
            return f"closed: {err!r}".encode()
    finally:
        writer.close()


@contextmanager
def goalflow_api(**settings: str) -> Iterator[int]:
    """`goalflow api` in a process of its own; its Temporal client is lazy (nothing listens on
    its address), /healthz answers without it."""
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "GOALFLOW_ENV": "development",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "goalflow.cli", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield port
    finally:
        process.terminate()
        process.wait(30)


async def _wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError(f"goalflow api did not listen on {port}")


async def test_an_idle_connection_outlives_the_clients_pool(stack: Stack) -> None:
    port = int(stack.url.rsplit(":", 1)[1])
    assert await _served_after_idle(port) == b"HTTP/1.1 200 OK"


async def test_goalflow_api_keeps_idle_connections_as_configured() -> None:
    with goalflow_api() as kept, goalflow_api(GOALFLOW_HTTP_KEEP_ALIVE_SECONDS="1") as short:
        await asyncio.gather(_wait_listening(kept), _wait_listening(short))
        # The default keeps the connection past the idle time.
        assert await _served_after_idle(kept) == b"HTTP/1.1 200 OK"
        # A short setting reaches the server: it closes the idle connection itself.
        reader, writer = await asyncio.open_connection("127.0.0.1", short)
        try:
            assert await _ask(reader, writer) == b"HTTP/1.1 200 OK"
            assert await asyncio.wait_for(reader.read(), 30) == b""
        finally:
            writer.close()
