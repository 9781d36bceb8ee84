"""Addresses with non-ASCII characters: accepted by the API, sent over real SMTP to the real sink
(IDN domains in their ASCII form; non-ASCII local parts with SMTPUTF8 when the server offers
it, a visible permanent failure when it does not)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.addresses import smtp_address
from activities.email import EmailComposer
from goalflow.core.smtp_sink import SmtpSink, read_messages
from goalflow.core.tracking import Tracker
from tests.api.test_email import EMAIL_THEN_TAG, email_request, smtp_settings
from tests.support.helpers import new_id, running_engine
from tests.support.messaging import messages_for
from tests.support.stack import Stack, free_port
from workflows.messages import SMTP_REJECTED

IDN = "jose@clínica.es"
IDN_ASCII = "jose@xn--clnica-4va.es"
UTF8_LOCAL = "josé@clínica.es"


def test_an_idn_domain_goes_out_in_its_ascii_form() -> None:
    assert smtp_address(IDN).envelope == IDN_ASCII
    assert not smtp_address(IDN).needs_smtputf8
    assert smtp_address(UTF8_LOCAL).envelope == "josé@xn--clnica-4va.es"
    assert smtp_address(UTF8_LOCAL).needs_smtputf8
    composer = EmailComposer(
        Tracker("s3cret", "https://go.example.com"), "Clínica <hola@clínica.es>"
    )
    message = composer.compose(email_request("<p>hi</p>", email=IDN, first_name="José"))
    assert message["To"].addresses[0].addr_spec == IDN_ASCII
    assert message["From"].addresses[0].addr_spec == "hola@xn--clnica-4va.es"
    assert str(message["Message-ID"]).endswith("@xn--clnica-4va.es>")
    # The whole message serialises as ASCII (a server without SMTPUTF8 takes it).
    message.as_bytes().decode("ascii")


async def _send_to(
    dev_env: WorkflowEnvironment, tmp_path: Path, address: str, *, smtputf8: bool
) -> tuple[list[dict[str, object]], dict[str, object]]:
    port = free_port()
    sink = SmtpSink(tmp_path / "outbox", "127.0.0.1", port, smtputf8=smtputf8)
    sink.start()
    try:
        async with running_engine(dev_env, settings=smtp_settings(port, tmp_path)) as engine:
            enrolled = await engine.enroll(EMAIL_THEN_TAG, new_id(), contact={"email": address})
            final = await engine.result(enrolled.enrollment_id)
    finally:
        sink.stop()
    assert final.status == "completed"
    [mail] = [e for e in final.timeline if e.kind == "step_completed" and e.step_id == "mail"]
    return read_messages(tmp_path / "outbox"), mail.detail


async def test_an_idn_address_is_delivered_without_smtputf8(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    messages, detail = await _send_to(dev_env, tmp_path, IDN, smtputf8=False)
    [message] = messages
    assert message["to"] == IDN_ASCII
    assert detail == {"message_id": message["message_id"]}


async def test_a_non_ascii_local_part_is_delivered_with_smtputf8(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    messages, detail = await _send_to(dev_env, tmp_path, UTF8_LOCAL, smtputf8=True)
    [message] = messages
    assert message["to"] == "josé@xn--clnica-4va.es"
    assert detail == {"message_id": message["message_id"]}


async def test_a_non_ascii_local_part_fails_visibly_where_smtputf8_is_not_offered(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    messages, detail = await _send_to(dev_env, tmp_path, UTF8_LOCAL, smtputf8=False)
    assert messages == []
    assert detail["result"] == "failed"
    assert detail["error_type"] == SMTP_REJECTED
    assert "SMTPUTF8" in str(detail["error"]) and "josé@xn--clnica-4va.es" in str(detail["error"])


async def test_the_api_accepts_what_can_be_delivered_and_refuses_the_rest(stack: Stack) -> None:
    contact = new_id("idn")
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"email": IDN})
    assert answer.status_code == 201, answer.text
    automation = new_id("a")
    definition = {
        "name": "idn",
        "steps": [{"id": "m", "type": "send_email", "subject": "Hola", "html": "<p>hola</p>"}],
    }
    answer = await stack.http.put(f"/v1/automations/{automation}", json=definition)
    assert answer.status_code == 201, answer.text
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
    )
    assert answer.status_code == 201, answer.text
    [message] = await messages_for(stack, contact, 1)
    assert message["to"] == IDN_ASCII
    for undeliverable in ("jose@clínica", "jo se@clínica.es", "jose@-clínica.es"):
        answer = await stack.http.put(f"/v1/contacts/{contact}", json={"email": undeliverable})
        assert answer.status_code == 422, (undeliverable, answer.text)
        assert "email" in answer.text
