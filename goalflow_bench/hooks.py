"""Load on `POST /v1/hooks/mailgun`: signed Mailgun events, one per request, as Mailgun sends them.

    python -m goalflow_bench.hooks --url http://127.0.0.1:8000 --mailgun-key KEY \\
        --secret "$GOALFLOW_SECRET" --events 1000 --concurrency 20

Each event is an `opened` event attributed (by the token goalflow puts in X-Mailgun-Variables) to
one of `--contacts` contacts, signed with the Mailgun signing key the API is configured with.
Prints the rate and the answers' totals: every event must be accepted once, none duplicate,
ignored or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from goalflow.core.tracking import TrackedTarget, Tracker


@dataclass
class HookLoad:
    events: int
    seconds: float
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def mailgun_body(key: str, token: str, event_id: str) -> dict[str, object]:
    """One `opened` event, signed as Mailgun signs it (timestamp + token, HMAC-SHA256)."""
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(key.encode(), (stamp + nonce).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": stamp, "token": nonce, "signature": signature},
        "event-data": {
            "id": event_id,
            "timestamp": time.time(),
            "event": "opened",
            "recipient": "someone@example.com",
            "message": {"headers": {"message-id": f"{event_id}@bench.example.com"}},
            "user-variables": {"goalflow": token},
        },
    }


async def post_mailgun_events(
    http: httpx.AsyncClient,
    *,
    mailgun_key: str,
    secret: str,
    events: int,
    contacts: int,
    concurrency: int,
) -> HookLoad:
    tracker = Tracker(secret, "http://bench.invalid")
    run = uuid.uuid4().hex[:8]
    tokens = [
        tracker.sign("attribution", TrackedTarget(contact_id=f"hook-bench-{run}-{n}"))
        for n in range(contacts)
    ]
    bodies = [
        json.dumps(mailgun_body(mailgun_key, tokens[n % contacts], f"{run}-{n}"))
        for n in range(events)
    ]
    result = HookLoad(events=events, seconds=0.0)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            answer = await http.post(
                "/v1/hooks/mailgun", content=body, headers={"content-type": "application/json"}
            )
            result.statuses[answer.status_code] = result.statuses.get(answer.status_code, 0) + 1
            if answer.status_code == 200:
                counts = answer.json()
                result.accepted += counts["accepted"]
                result.duplicates += counts["duplicates"]
                result.ignored += counts["ignored"]

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def _main(args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=args.url, timeout=60) as http:
        load = await post_mailgun_events(
            http,
            mailgun_key=args.mailgun_key,
            secret=args.secret,
            events=args.events,
            contacts=args.contacts,
            concurrency=args.concurrency,
        )
    print(
        f"{load.events} signed Mailgun events in {load.seconds:.2f} s: {load.rate:.0f}/s; "
        f"accepted {load.accepted}, duplicates {load.duplicates}, ignored {load.ignored}, "
        f"non-200 answers {load.errors} ({load.statuses})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--mailgun-key", required=True)
    parser.add_argument("--secret", required=True, help="GOALFLOW_SECRET of the API")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    asyncio.run(_main(parser.parse_args()))
