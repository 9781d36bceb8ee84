"""The outbound guard of webhook steps: literal non-public addresses are refused at publish (422
with the step's path), hostnames at connect time against the address actually connected to,
redirects are not followed, and a receiver's answer never reaches the timeline beyond its status.

No test here sends a packet anywhere but loopback: private and link-local answers come from a
stubbed resolver, and the guard refuses them before any connection is made.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.webhook import WebhookActivities
from api.main import create_app
from goalflow.core.outbound import (
    LOOPBACK_NETWORKS,
    GuardedTransport,
    OutboundPolicy,
    OutboundRefused,
    literal_address,
)
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import new_id, running_engine
from tests.support.stack import Stack
from workflows.messages import OUTBOUND_REFUSED, StepContext, WebhookRequest

SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3ODkw"

# One address of every kind the guard refuses unless listed, with the word its reason uses.
REFUSED = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b:1::c0a8:101", "private"),  # local-use NAT64 of 192.168.1.1
    ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
    ("::10.0.0.1", "reserved"),  # IPv4-compatible
]
PUBLIC = ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


def url_of(address: str, path: str = "/hook") -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}{path}"


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_every_non_public_kind_is_refused_unless_listed(address: str, kind: str) -> None:
    reason = OutboundPolicy().refusal(address)
    assert reason is not None and reason.startswith(f"{kind} address"), reason
    # Listed, it is allowed.
    assert OutboundPolicy.from_setting(address).refusal(address) is None


def test_public_addresses_pass_and_listed_networks_open_only_themselves() -> None:
    for address in PUBLIC:
        assert OutboundPolicy().refusal(address) is None, address
    loopback = OutboundPolicy.from_setting(LOOPBACK_NETWORKS)
    assert loopback.refusal("127.0.0.1") is None
    assert loopback.refusal("127.9.9.9") is None
    assert loopback.refusal("::1") is None
    assert loopback.refusal("::ffff:127.0.0.1") is None  # the same address, mapped
    assert loopback.refusal("10.0.0.1") is not None
    assert loopback.refusal("169.254.169.254") is not None
    assert OutboundPolicy.from_setting("10.0.0.0/8").refusal("::ffff:10.1.1.1") is None


def test_legacy_ipv4_spellings_are_literal_addresses() -> None:
    for url in ("http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/"):
        assert str(literal_address(url)) == "127.0.0.1", url
    for url in ("http://example.com/", "http://{{ contact.fields.host }}/x", "https://cafe/"):
        assert literal_address(url) is None, url


# --- at publish --------------------------------------------------------------------------------


@asynccontextmanager
async def api_allowing(stack: Stack, networks: str) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's API, in process, with another GOALFLOW_OUTBOUND_ALLOWED_NETWORKS."""
    settings = stack.settings.model_copy(update={"outbound_allowed_networks": networks})
    app = create_app(settings, stack.env.client)
    app.state.goalflow = GoalflowService(
        stack.env.client, settings.task_queue
    )  # what lifespan does
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as http:
        yield http


def hooks(*urls: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "first", "type": "add_tag", "tag": "x"}]
    steps += [{"id": f"hook-{i}", "type": "webhook", "url": url} for i, url in enumerate(urls)]
    return {"name": "hooks", "steps": steps}


async def test_literal_non_public_addresses_are_refused_at_publish(stack: Stack) -> None:
    literals = [url_of(address) for address, _ in REFUSED]
    literals += ["http://2130706433/", "https://0x7f.1:8443/x", "http://user:pw@10.0.0.1/"]
    async with api_allowing(stack, "") as api:
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=hooks(*literals))
        assert answer.status_code == 422, answer.text
        errors = answer.json()["detail"]
        # One error per refused step, each with the step's path.
        assert [e["loc"] for e in errors] == [
            ["body", "steps", i + 1, "url"] for i in range(len(literals))
        ]
        assert all(e["type"] == "outbound_refused" for e in errors)
        # Each message names its step, then the kind of address refused.
        for i, (error, (_, kind)) in enumerate(zip(errors, REFUSED, strict=False)):
            assert error["msg"].startswith(f"step 'hook-{i}' (steps[{i + 1}]): {kind} address"), (
                error
            )
        # Public literals and hostnames are for connect time; templates too.
        fine = [url_of(a) for a in PUBLIC] + ["https://hooks.example.com/x", "http://{{x}}/"]
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=hooks(*fine))
        assert answer.status_code == 201, answer.text
    async with api_allowing(stack, "10.0.0.0/8") as api:
        listed = hooks("http://10.1.2.3/hook", "http://[::ffff:10.0.0.1]/hook")
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=listed)
        assert answer.status_code == 201, answer.text
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=hooks(url_of("fc00::1")))
        assert answer.status_code == 422, answer.text


# Spellings of the metadata service's address that reach it once the host is normalized the way
# the webhook client (httpx) and the resolver do: a trailing dot, ideographic and fullwidth full
# stops (IDNA), integer, hex and octal IPv4 forms, percent-escapes, and mixes of these.
METADATA_SPELLINGS = [
    "http://169.254.169.254./",
    "http://169。254。169。254/",
    "http://169．254．169．254./latest/",
    "http://169｡254｡169｡254/",
    "http://2852039166./",
    "http://0xa9fea9fe/",
    "http://0xa9.0xfe.0xa9.0xfe./",
    "http://169.254.43518/",
    "http://169.254.169.254%2e/",
    "http://[::ffff:169.254.169.254]/",
]
# Resolvers read 0251.0376.0251.0376 as octal; httpx refuses to send to it at all, so it is
# only for publish.
NEVER_SENT = ["http://0251.0376.0251.0376/"]


async def test_host_spellings_that_normalize_to_a_literal_are_refused_at_publish(
    stack: Stack,
) -> None:
    spellings = METADATA_SPELLINGS + NEVER_SENT
    for url in spellings:
        assert str(literal_address(url)) in ("169.254.169.254", "::ffff:a9fe:a9fe"), url
    async with api_allowing(stack, "") as api:
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=hooks(*spellings))
        assert answer.status_code == 422, answer.text
        errors = answer.json()["detail"]
        assert [e["loc"] for e in errors] == [
            ["body", "steps", i + 1, "url"] for i in range(len(spellings))
        ]
        assert all("link-local address" in e["msg"] for e in errors), errors
        # A trailing dot on a name is still a name, for connect time.
        answer = await api.put(f"/v1/automations/{new_id('a')}", json=hooks("http://hooks.test./"))
        assert answer.status_code == 201, answer.text


def test_a_bad_network_setting_stops_the_process() -> None:
    with pytest.raises(ValueError, match="GOALFLOW_OUTBOUND_ALLOWED_NETWORKS"):
        Settings(GOALFLOW_OUTBOUND_ALLOWED_NETWORKS="10.0.0.0/8,not-a-network")


# --- at connect time ---------------------------------------------------------------------------


@dataclass
class StubResolver:
    """Answers from a table; records every lookup. Unknown names do not resolve."""

    answers: dict[str, list[str]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host} does not resolve")
        return self.answers[host]


@dataclass
class Receiver:
    """A local HTTP server answering every request with `status`, `location` and `body`."""

    port: int = 0
    status: int = 200
    location: str | None = None
    body: bytes = b""
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append({"host": self.headers["host"], "path": self.path})
            self.send_response(state.status)
            if state.location:
                self.send_header("location", state.location)
            self.send_header("content-length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


class LoopbackOnly(httpx.AsyncHTTPTransport):
    """Connects like httpx, but only to loopback: should the guard ever let a refused address
    through, these tests fail here instead of sending a packet to it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"the guard let a connection to {host} through")
        return await super().handle_async_request(request)


def guarded(policy: OutboundPolicy, resolver: Any = None) -> WebhookActivities:
    """Webhook activities under `policy`, resolving through `resolver` when given."""
    if resolver is None:
        return WebhookActivities(SECRET, policy, connector=LoopbackOnly)
    return WebhookActivities(SECRET, policy, resolver=resolver, connector=LoopbackOnly)


LOOPBACK = OutboundPolicy.from_setting(LOOPBACK_NETWORKS)


def webhook_request(url: str) -> WebhookRequest:
    automation, _ = parse_automation(hooks(url), set())
    contact: dict[str, Any] = {"id": "c-1"}
    context = StepContext.model_validate(
        {
            "enrollment_id": "enr:a:c-1:1",
            "automation_id": "a",
            "step_id": "hook-0",
            "visit": 1,
            "contact": contact,
        }
    )
    return WebhookRequest(context=context, step=automation.steps[1])


async def send(activities: WebhookActivities, url: str) -> Any:
    return await ActivityEnvironment().run(activities.send_webhook, webhook_request(url))


async def test_a_host_is_checked_once_and_connected_to_at_the_address_checked(
    receiver: Receiver,
) -> None:
    # "hooks.test" exists only in the stub: the request can only have reached the receiver
    # through the address the guard checked, with the original Host header.
    resolver = StubResolver({"hooks.test": ["127.0.0.1"]})
    activities = guarded(LOOPBACK, resolver)
    result = await send(activities, f"http://hooks.test:{receiver.port}/hook")
    assert result.status_code == 200
    assert receiver.requests == [{"host": f"hooks.test:{receiver.port}", "path": "/hook"}]
    assert resolver.asked == ["hooks.test"]  # one lookup: nothing to rebind between check and use


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["::ffff:10.0.0.5"],
        ["fd00::5"],
        ["127.0.0.1", "10.0.0.5"],  # one refused address refuses the host
    ],
)
async def test_a_host_resolving_to_a_refused_address_is_refused_before_connecting(
    receiver: Receiver, answers: list[str]
) -> None:
    resolver = StubResolver({"internal.test": answers})
    activities = guarded(LOOPBACK, resolver)
    with pytest.raises(ApplicationError) as refused:
        await send(activities, f"http://internal.test:{receiver.port}/hook")
    assert refused.value.type == OUTBOUND_REFUSED and refused.value.non_retryable
    assert "internal.test" in refused.value.message and "not allowed" in refused.value.message
    assert receiver.requests == []


@pytest.mark.parametrize("url", METADATA_SPELLINGS)
async def test_a_literal_in_any_spelling_is_refused_at_connect_time_without_a_lookup(
    url: str,
) -> None:
    # The resolver knows no name: a spelling of an address must be recognised as that address
    # (refused, never retried), not looked up and failed as an unknown name (retried).
    resolver = StubResolver({})
    activities = guarded(LOOPBACK, resolver)
    with pytest.raises(ApplicationError) as refused:
        await send(activities, url)
    assert refused.value.type == OUTBOUND_REFUSED and refused.value.non_retryable, refused.value
    assert "link-local address" in refused.value.message
    assert resolver.asked == []


async def test_the_transport_never_reaches_its_connection_layer_for_a_refused_host() -> None:
    reached: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(200)

    resolver = StubResolver({"metadata.test": ["169.254.169.254"], "ok.test": ["8.8.8.8"]})
    transport = GuardedTransport(OutboundPolicy(), resolver, inner=httpx.MockTransport(record))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(OutboundRefused, match="link-local"):
            await http.get("http://metadata.test/latest/meta-data/")
        assert reached == []
        # A public answer is pinned: the connection layer sees the address, the Host header
        # and (https) the TLS server name keep the name.
        await http.get("https://ok.test/x")
    [pinned] = reached
    assert (pinned.url.host, pinned.headers["host"]) == ("8.8.8.8", "ok.test")
    assert pinned.extensions["sni_hostname"] == "ok.test"


async def test_redirects_to_private_addresses_are_not_followed(receiver: Receiver) -> None:
    resolver = StubResolver({"hooks.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    activities = guarded(LOOPBACK, resolver)
    for location in ("http://metadata.test/latest/", "http://10.0.0.1/", "http://[fd00::1]/"):
        receiver.status, receiver.location = 302, location
        with pytest.raises(ApplicationError) as failed:
            await send(activities, f"http://hooks.test:{receiver.port}/hook")
        assert failed.value.non_retryable
        message = failed.value.message
        assert "302" in message and "redirects are not followed" in message
    assert len(receiver.requests) == 3
    assert set(resolver.asked) == {"hooks.test"}  # the redirect target was never even looked up


async def test_a_receivers_body_never_reaches_the_failure(receiver: Receiver) -> None:
    receiver.status, receiver.body = 400, b"internal token sk_live_SECRET and a stack trace"
    activities = guarded(LOOPBACK)
    with pytest.raises(ApplicationError) as failed:
        await send(activities, f"http://127.0.0.1:{receiver.port}/hook?api_key=abc")
    message = failed.value.message
    assert "400 Bad Request" in message, message
    assert "SECRET" not in message and "api_key" not in message, message


# --- in the timeline ---------------------------------------------------------------------------


async def test_a_refused_call_is_a_failed_step_in_the_timeline(
    dev_env: WorkflowEnvironment,
) -> None:
    resolver = StubResolver({"internal.test": ["10.0.0.5"]})
    refusing = guarded(OutboundPolicy(), resolver)
    async with running_engine(dev_env, activities=[refusing.send_webhook]) as engine:
        definition = hooks("http://internal.test/hook")
        definition["steps"].append({"id": "after", "type": "add_tag", "tag": "after"})
        enrolled = await engine.enroll(definition, new_id())
        final = await engine.result(enrolled.enrollment_id)
    hook = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "hook-0")
    assert hook.detail == {
        "result": "failed",
        "error_type": OUTBOUND_REFUSED,
        "error": "webhook http://internal.test/hook refused: "
        "internal.test: private address 10.0.0.5 is not allowed",
    }
    # Refused once (never retried), and the enrollment carries on.
    assert resolver.asked == ["internal.test"]
    assert final.status == "completed"
    assert [e.step_id for e in final.timeline if e.kind == "step_completed"][-1] == "after"
