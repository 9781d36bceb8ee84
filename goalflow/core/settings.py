"""Settings read from the environment, once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from goalflow.core.outbound import OutboundPolicy, parse_networks
from workflows.messages import DEFAULT_TASK_QUEUE

# Memory a workflow in the worker's cache holds: worker RSS went from 108 MB idle to 290-309 MB
# once its default 1,000 workflows were cached, and stayed there up to 100,000 enrollments held
# (301.7 MB at the end, docs/benchmarks.md): about 200 KiB each (340 before the sandbox's module
# copies were cut). `python -m goalflow_bench.sandbox` measures the sandbox's share.
KIB_PER_CACHED_WORKFLOW = 200
# The workflow tasks a worker runs at once: each needs its workflow cached (local activities).
MIN_CACHED_WORKFLOWS = 100
MIN_WORKER_CACHE_MB = MIN_CACHED_WORKFLOWS * KIB_PER_CACHED_WORKFLOW // 1024 + 1


class Settings(BaseSettings):
    """Every setting goalflow reads. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    temporal_address: str = Field("localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    temporal_api_key: str | None = Field(None, alias="TEMPORAL_API_KEY")
    temporal_tls_cert: str | None = Field(None, alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: str | None = Field(None, alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: str | None = Field(None, alias="TEMPORAL_TLS_CA")
    task_queue: str = Field(DEFAULT_TASK_QUEUE, alias="GOALFLOW_TASK_QUEUE")
    # The worker checks at start that the namespace has the search attributes the workflows
    # write (goalflow/core/namespace.py) and stops if not; with this, it creates the missing ones.
    # `goalflow dev` turns it on unless told otherwise.
    register_search_attributes: bool = Field(False, alias="GOALFLOW_REGISTER_SEARCH_ATTRIBUTES")
    api_keys: str = Field("", alias="GOALFLOW_API_KEYS")
    public_url: str = Field("http://127.0.0.1:8000", alias="GOALFLOW_PUBLIC_URL")
    # Comma-separated: the first signs, all verify (goalflow/core/tracking.py, docs/security.md).
    secret: str = Field("goalflow-dev-secret-change-me", alias="GOALFLOW_SECRET")
    # smtp://[user:pass@]host[:port][?starttls=true][&verify=false]; smtps:// for implicit TLS.
    smtp_url: str = Field("smtp://127.0.0.1:1025", alias="GOALFLOW_SMTP_URL")
    email_from: str = Field("goalflow <noreply@goalflow.local>", alias="GOALFLOW_EMAIL_FROM")
    # SMS: "outbox" writes to the dev outbox in the data dir; "twilio" calls a Twilio-compatible
    # Messages API at GOALFLOW_TWILIO_BASE_URL.
    sms_provider: Literal["outbox", "twilio"] = Field("outbox", alias="GOALFLOW_SMS_PROVIDER")
    sms_from: str | None = Field(None, alias="GOALFLOW_SMS_FROM")
    twilio_base_url: str = Field("https://api.twilio.com", alias="GOALFLOW_TWILIO_BASE_URL")
    twilio_account_sid: str | None = Field(None, alias="GOALFLOW_TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="GOALFLOW_TWILIO_AUTH_TOKEN")
    # Standard Webhooks secrets are "whsec_" + base64; the default is for development only.
    webhook_secret: str = Field(
        "whsec_Z29hbGZsb3ctZGV2LXdlYmhvb2stc2VjcmV0", alias="GOALFLOW_WEBHOOK_SECRET"
    )
    # "production": the API and the worker refuse to start on placeholder secrets, a local public
    # URL or (API) no API keys; see goalflow/core/production.py and docs/deploy.md.
    env: Literal["development", "production"] = Field("development", alias="GOALFLOW_ENV")
    # Provider webhooks in (POST /v1/hooks/{provider}, docs/integrations.md): a provider whose
    # secret is unset answers 404. GOALFLOW_TWILIO_AUTH_TOKEN above also verifies Twilio's.
    sendgrid_public_key: str | None = Field(None, alias="GOALFLOW_SENDGRID_PUBLIC_KEY")
    mailgun_signing_key: str | None = Field(None, alias="GOALFLOW_MAILGUN_SIGNING_KEY")
    postmark_webhook_auth: str | None = Field(None, alias="GOALFLOW_POSTMARK_WEBHOOK_AUTH")
    calendly_signing_key: str | None = Field(None, alias="GOALFLOW_CALENDLY_SIGNING_KEY")
    calcom_secret: str | None = Field(None, alias="GOALFLOW_CALCOM_SECRET")
    stripe_webhook_secret: str | None = Field(None, alias="GOALFLOW_STRIPE_WEBHOOK_SECRET")
    shopify_secret: str | None = Field(None, alias="GOALFLOW_SHOPIFY_SECRET")
    # PEM: HighLevel signs its webhooks with RSA; this is its published public key.
    highlevel_public_key: str | None = Field(None, alias="GOALFLOW_HIGHLEVEL_PUBLIC_KEY")
    # Outcomes out (docs/integrations.md, "Reporting webhook"): unset, nothing is posted.
    reporting_webhook_url: str | None = Field(None, alias="GOALFLOW_REPORTING_WEBHOOK_URL")
    # Standard Webhooks secret ("whsec_" + base64); unset: GOALFLOW_WEBHOOK_SECRET signs.
    reporting_webhook_secret: str | None = Field(None, alias="GOALFLOW_REPORTING_WEBHOOK_SECRET")
    # OpenTelemetry traces over OTLP/HTTP (goalflow/core/tracing.py); unset: no tracing at all.
    otel_exporter_otlp_endpoint: str | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    log_format: str = Field("console", alias="GOALFLOW_LOG_FORMAT")
    dev_mode: bool = Field(False, alias="GOALFLOW_DEV")
    # Base URL of Temporal's web UI; the dashboard links each enrollment to its workflow there.
    temporal_ui_url: str | None = Field(None, alias="GOALFLOW_TEMPORAL_UI_URL")
    data_dir: str = Field(".goalflow", alias="GOALFLOW_DATA_DIR")
    worker_metrics_port: int | None = Field(None, alias="GOALFLOW_WORKER_METRICS_PORT")
    # Workflows a worker keeps in memory between tasks (the SDK's max_cached_workflows). At
    # least as many as the workflow tasks a worker runs at once (100): emails are local
    # activities, which need their workflow to stay cached while they run (with a cache of 1
    # or 0, sends stalled for the 10 s workflow task timeout).
    worker_cached_workflows: int = Field(
        1000, ge=100, le=100_000, alias="GOALFLOW_WORKER_CACHED_WORKFLOWS"
    )
    # Or the cache as a memory budget: as many workflows as fit at KIB_PER_CACHED_WORKFLOW each
    # (the 100 a worker runs at once at least). Give one of the two.
    worker_cache_mb: int | None = Field(
        None,
        ge=MIN_WORKER_CACHE_MB,
        le=100_000,
        alias="GOALFLOW_WORKER_CACHE_MB",
    )
    # CIDRs (comma-separated) of non-public networks webhook steps may call; public addresses
    # are always allowed (goalflow/core/outbound.py, docs/security.md).
    outbound_allowed_networks: str = Field("", alias="GOALFLOW_OUTBOUND_ALLOWED_NETWORKS")
    max_body_bytes: int = Field(10 * 1024 * 1024, alias="GOALFLOW_MAX_BODY_BYTES")
    # Seconds the API keeps an idle keep-alive connection open. Longer than any client's or
    # proxy's own idle limit, so that the client is the one to close: when the server closes
    # first, a request the client sends at that moment is reset (a failed call, or a 502 at a
    # proxy). uvicorn's default is 5 s, httpx's client expiry is 5 s, load balancers use 60 s.
    http_keep_alive_seconds: int = Field(
        75, ge=1, le=3600, alias="GOALFLOW_HTTP_KEEP_ALIVE_SECONDS"
    )
    # Seconds the API waits for a contact's workflow to answer an enrollment, an event, a tag
    # change or a profile save before answering 503 (no worker serves it, or all are busy).
    answer_wait_seconds: float = Field(30.0, ge=1, le=600, alias="GOALFLOW_ANSWER_WAIT_SECONDS")
    # Enroll calls a bulk job keeps in flight per batch (two batches run at once).
    bulk_concurrency: int = Field(16, ge=1, le=256, alias="GOALFLOW_BULK_CONCURRENCY")

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a bad CIDR stops the process at start, not at the first call
        return value

    @model_validator(mode="after")
    def _one_cache_size(self) -> Settings:
        if self.worker_cache_mb is not None and "worker_cached_workflows" in self.model_fields_set:
            raise ValueError(
                "set GOALFLOW_WORKER_CACHE_MB or GOALFLOW_WORKER_CACHED_WORKFLOWS, not both"
            )
        return self

    @property
    def worker_cache_size(self) -> int:
        """The workflows the worker keeps cached: from the memory budget when one is given."""
        if self.worker_cache_mb is None:
            return self.worker_cached_workflows
        return max(MIN_CACHED_WORKFLOWS, self.worker_cache_mb * 1024 // KIB_PER_CACHED_WORKFLOW)

    @property
    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy.from_setting(self.outbound_allowed_networks)

    @property
    def outbox_dir(self) -> Path:
        """Where the dev SMTP sink and the outbox SMS provider keep messages."""
        return Path(self.data_dir) / "outbox"

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
