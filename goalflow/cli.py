"""The `goalflow` command."""

from __future__ import annotations

import asyncio
import json
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
) -> None:
    """Run everything on this machine: Temporal (embedded), a worker, the API, the SMTP sink.
    With TEMPORAL_ADDRESS set, that server is used instead of starting one."""
    from goalflow.dev import DevOptions, run_dev

    options = DevOptions(host, port, temporal_port, ui_port, smtp_port, data_dir)
    asyncio.run(run_dev(options))


@app.command()
def worker() -> None:
    """Run a worker (production): workflows and activities on GOALFLOW_TASK_QUEUE."""
    from worker import run_worker

    asyncio.run(run_worker())


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the HTTP API (production)."""
    import uvicorn

    from api.main import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command()
def schema() -> None:
    """Print the JSON Schema of an automation definition."""
    from workflows.definition import Automation

    typer.echo(json.dumps(Automation.model_json_schema(by_alias=True), indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
