"""The `goalflow` command."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="goalflow: durable automations with goal events, on Temporal.")


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="address of the API and the embedded servers")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="embedded Temporal gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal web UI port")] = 8233,
    smtp_port: Annotated[int, typer.Option(help="embedded SMTP sink port")] = 1025,
    data_dir: Annotated[Path, typer.Option(help="state kept across restarts")] = Path(".goalflow"),
    smtp_log: Annotated[
        bool, typer.Option(help="log the SMTP sink's conversation with every message")
    ] = False,
) -> None:
    """Run everything on this machine: Temporal (embedded), a worker, the API, the SMTP sink.
    With TEMPORAL_ADDRESS set, that server is used instead of starting one."""
    import logging

    from goalflow.cli.dev import DevOptions, run_dev
    from goalflow.core.logging import SMTP_SINK_LOGGER
    from goalflow.core.namespace import NamespaceNotReady

    _configure_logging()
    if smtp_log:
        logging.getLogger(SMTP_SINK_LOGGER).setLevel(logging.INFO)
    options = DevOptions(host, port, temporal_port, ui_port, smtp_port, data_dir)
    try:
        asyncio.run(run_dev(options))
    except NamespaceNotReady as err:
        raise SystemExit(f"goalflow dev: {err}") from None


@app.command()
def worker() -> None:
    """Run a worker (production): workflows and activities on GOALFLOW_TASK_QUEUE."""
    from goalflow.core.namespace import NamespaceNotReady
    from goalflow.core.production import UnsafeProductionSettings
    from worker import run_worker

    _configure_logging()
    try:
        asyncio.run(run_worker())
    except (UnsafeProductionSettings, NamespaceNotReady) as err:
        raise SystemExit(str(err)) from None


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the HTTP API (production)."""
    import uvicorn

    from api.main import create_app
    from goalflow.core.production import UnsafeProductionSettings
    from goalflow.core.settings import get_settings

    _configure_logging()
    settings = get_settings()
    try:
        app = create_app(settings)
    except UnsafeProductionSettings as err:
        raise SystemExit(str(err)) from None
    # log_config=None: uvicorn logs through goalflow's structured handler.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.http_keep_alive_seconds,
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of an automation definition."""
    from workflows.definition import Automation

    typer.echo(json.dumps(Automation.model_json_schema(by_alias=True), indent=2))


class Benchmark(StrEnum):
    throughput = "throughput"
    latency = "latency"
    ingest = "ingest"
    scale = "scale"
    bulk = "bulk"
    cost = "cost"
    profile = "profile"


class ProfiledWork(StrEnum):
    throughput = "throughput"
    ingest = "ingest"


# The benchmarks are a package of their own (goalflow_bench), a development tool that the
# runtime never imports and the Docker image leaves out.
BENCH_MISSING = (
    "goalflow bench: the benchmarks (the goalflow_bench package) are not installed here; the "
    "Docker image leaves them out. Install goalflow from a checkout of its repository "
    "(`pip install .` or `pip install -e .`) to run them (docs/benchmarks.md)."
)


@app.command()
def bench(
    benchmark: Annotated[Benchmark, typer.Argument(help="which benchmark to run")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    contacts: Annotated[
        int | None, typer.Option(help="throughput/ingest/bulk: contacts; scale: probe events")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="latency/scale: events per second")] = None,
    seconds: Annotated[float | None, typer.Option(help="latency/ingest: duration")] = None,
    enrollments: Annotated[int | None, typer.Option(help="scale: waiting enrollments")] = None,
    concurrency: Annotated[int | None, typer.Option(help="requests in flight")] = None,
    rounds: Annotated[int | None, typer.Option(help="throughput: floor/goalflow rounds")] = None,
    batch_size: Annotated[int | None, typer.Option(help="ingest: events per batch")] = None,
    singles: Annotated[int | None, typer.Option(help="bulk: single enrollments to compare")] = (
        None
    ),
    triggered_automations: Annotated[
        int | None,
        typer.Option(help="ingest: also measure with this many active triggered automations"),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="profile: directory for the flame graphs")
    ] = None,
    work: Annotated[
        ProfiledWork | None,
        typer.Option(help="profile: the work sampled (default: throughput)"),
    ] = None,
    keep: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="scale: keep the run in this directory; the same command again goes on with it",
        ),
    ] = None,
    worker_process: Annotated[
        bool | None,
        typer.Option(
            "--worker-process/--worker-in-process",
            help="run the workers as subprocesses (default: in-process; scale: subprocess)",
        ),
    ] = None,
) -> None:
    """Measure goalflow against docs/benchmarks.md's targets here, side by side with bare Temporal.
    Starts its own embedded Temporal unless TEMPORAL_ADDRESS is set; progress goes to stderr."""
    import os

    try:
        from goalflow_bench.main import BenchOptions, quiet_logs, run_benchmark
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] != "goalflow_bench":
            raise
        typer.echo(BENCH_MISSING, err=True)
        raise typer.Exit(1) from None

    quiet_logs()
    options = BenchOptions(
        contacts=contacts,
        rate=rate,
        seconds=seconds,
        enrollments=enrollments,
        concurrency=concurrency,
        rounds=rounds,
        batch_size=batch_size,
        singles=singles,
        worker_process=worker_process,
        temporal_address=os.environ.get("TEMPORAL_ADDRESS") or None,
        triggered_automations=triggered_automations,
        output=output,
        work=work.value if work else None,
        keep=str(keep) if keep else None,
    )
    report = asyncio.run(run_benchmark(benchmark.value, options))
    typer.echo(report.to_json() if as_json else report.to_table())


@app.command()
def enroll(
    automation_id: Annotated[str, typer.Argument(help="the automation to enroll into")],
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="contacts.csv or contacts.jsonl"),
    ],
    api: Annotated[
        str, typer.Option(envvar="GOALFLOW_API_URL", help="base URL of a running goalflow API")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None, typer.Option(envvar="GOALFLOW_API_KEY", help="one of GOALFLOW_API_KEYS")
    ] = None,
    version: Annotated[int | None, typer.Option(help="automation version (default: latest)")] = (
        None
    ),
    job_rows: Annotated[int, typer.Option(help="rows per bulk job (at most 100,000)")] = 100_000,
) -> None:
    """Enroll every contact of a CSV or JSONL file as a bulk job, with progress and a summary."""
    from goalflow.cli.enroll_file import EnrollFileError, enroll_file, print_summary

    try:
        summary = enroll_file(
            automation_id,
            file,
            api=api,
            api_key=api_key,
            version=version,
            max_job_rows=max(1, min(job_rows, 100_000)),
        )
    except EnrollFileError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


def _configure_logging() -> None:
    from goalflow.core.logging import configure_logging
    from goalflow.core.settings import get_settings

    configure_logging(get_settings().log_format)


def main() -> None:
    from goalflow.core.exiting import run_and_exit

    run_and_exit(app)


if __name__ == "__main__":
    main()
