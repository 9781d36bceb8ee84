"""Structured logs: structlog for goalflow's own lines, the same renderer for the standard library's
(uvicorn, Temporal's `workflow.logger` and `activity.logger`), JSON when GOALFLOW_LOG_FORMAT=json.

Nothing secret or bulky belongs in a log line: goalflow logs ids, routes, statuses and counts,
never headers, bodies, message contents or tokens; keys that look secret are redacted anyway.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = ("authorization", "api_key", "apikey", "password", "secret", "token", "cookie")
# aiosmtpd's logger: the SMTP sink of `goalflow dev` logs its whole conversation with every
# message at INFO (a dozen lines a send, half of a dev log); `goalflow dev --smtp-log` shows it.
SMTP_SINK_LOGGER = "mail.log"
# Standard `LogRecord` attributes: everything else on a record is an `extra` worth keeping.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in list(event):
        if any(secret in key.lower() for secret in SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def _extras(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Lift a standard-library record's `extra` into the line. Temporal puts the workflow or
    activity's identity under `temporal_workflow` / `temporal_activity`; goalflow passes ids."""
    record: logging.LogRecord | None = event.get("_record")
    if record is None:
        return event
    for key, value in vars(record).items():
        if key in _RECORD_FIELDS or key.startswith("_") or key in event:
            continue
        if key == "temporal_log":
            continue  # the SDK core's fields, already appended to the message
        if key in ("temporal_workflow", "temporal_activity") and isinstance(value, dict):
            for inner, item in value.items():
                if inner in ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt"):
                    event.setdefault(inner, item)
            continue
        event[key] = value
    return event


def configure_logging(fmt: str = "console", level: int | str = logging.INFO) -> None:
    """Idempotent; call once per process from the CLI entry points."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            _redact,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _extras],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_goalflow", False):
            root.removeHandler(old)
    handler._goalflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own handlers would print a second, unstructured line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # api/metrics.py logs each request
    # httpx logs every request's full URL at INFO: webhook URLs may carry tokens.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(SMTP_SINK_LOGGER).setLevel(logging.WARNING)
    # Identity goes into fields, not into the message text.
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
