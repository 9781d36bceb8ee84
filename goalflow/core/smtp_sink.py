"""The embedded SMTP sink of `goalflow dev` and the tests: a real SMTP server (aiosmtpd) that
keeps every message it receives in the data dir, one JSON line each."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)
OUTBOX_FILE = "messages.jsonl"


def outbox_path(directory: Path) -> Path:
    return directory / OUTBOX_FILE


def append_message(directory: Path, record: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _LOCK, outbox_path(directory).open("a", encoding="utf-8") as out:
        out.write(line)


def read_messages(directory: Path) -> list[dict[str, Any]]:
    path = outbox_path(directory)
    if not path.exists():
        return []
    with _LOCK:
        lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


_LOCK = threading.Lock()


def outbox_messages(directory: Path) -> list[dict[str, Any]]:
    """The outbox as a reader sees it: each message once, oldest first. A send repeated after a
    crash or a timed-out workflow task reaches the sink again under the same Message-ID (every
    delivery is kept in the file); it is one message here, with `deliveries` counting them."""
    messages: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    for record in read_messages(directory):
        message_id = record.get("message_id") or ""
        if message_id and message_id in first:
            first[message_id]["deliveries"] += 1
            continue
        message = {**record, "deliveries": 1}
        if message_id:
            first[message_id] = message
        messages.append(message)
    return messages


def email_record(raw: bytes, recipients: list[str]) -> dict[str, Any]:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = html_part.get_content() if html_part is not None else ""
    text = text_part.get_content() if text_part is not None else ""

    def header(name: str) -> str | None:
        # A long header arrives folded; its value starts after the folding whitespace.
        value = message.get(name)
        return None if value is None else str(value).strip()

    return {
        "message_id": header("Message-ID") or "",
        "channel": "email",
        "to": ", ".join(recipients),
        "from": header("From") or "",
        "subject": header("Subject") or "",
        "html": html,
        "text": text,
        "links": HREF.findall(html),
        "sent_at": datetime.now(UTC).isoformat(),
        "enrollment_id": header("X-Goalflow-Enrollment"),
        "automation_id": header("X-Goalflow-Automation"),
        "step_id": header("X-Goalflow-Step"),
        "contact_id": header("X-Goalflow-Contact"),
        # What email providers hand back in their webhooks (docs/integrations.md).
        "provider_headers": {
            name: value
            for name in ("X-SMTPAPI", "X-Mailgun-Variables", "X-PM-Metadata-goalflow")
            if (value := header(name)) is not None
        },
    }


class _Handler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        append_message(self.directory, email_record(content, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """`smtputf8`: whether the sink offers SMTPUTF8 (RFC 6531), as most mail services do; an
    address whose part before '@' is not ASCII can be sent only to a server that does."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 1025,
        *,
        smtputf8: bool = True,
    ) -> None:
        self.directory = directory
        self.controller = Controller(
            _Handler(directory), hostname=host, port=port, enable_SMTPUTF8=smtputf8
        )

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.controller.start()

    def stop(self) -> None:
        # Stopping a controller that never started raises; nothing to stop then.
        if getattr(self.controller, "_thread", None) is not None:
            self.controller.stop()
