"""`goalflow enroll AUTOMATION_ID contacts.csv|contacts.jsonl`: a bulk job from a file, against a
running API, with a progress bar and a summary.

CSV: a header row; `id` is required; `email`, `phone`, `first_name`, `last_name` are the contact's;
`tags` holds tags separated by `;`; every other non-empty cell becomes a custom field (a string).
JSONL: one contact object per line (as in `POST /v1/automations/{id}/enrollments`). The API
validates each row: bad rows come back in the summary with their line in the file. A file over
100,000 rows (or a body over `max_body_bytes`) is sent as several jobs, one after the other.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

CONTACT_COLUMNS = ("id", "email", "phone", "first_name", "last_name")
MAX_JOB_ROWS = 100_000
SHOWN_REJECTS = 20
# How long the job's progress may stay unavailable (no worker answering) before giving up.
MAX_UNAVAILABLE_SECONDS = 600


class EnrollFileError(Exception):
    """Something the user must fix; the message says what."""


class Unavailable(EnrollFileError):
    """The API answered 503: retry later."""


@dataclass
class Row:
    line: int
    contact: Any
    # Set when the line could not even be parsed (JSONL): reported instead of the API's reason.
    problem: str | None = None


@dataclass
class Summary:
    total: int = 0
    done: int = 0
    created: int = 0
    existing: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    failed: list[str] = field(default_factory=list)


def read_rows(path: Path) -> list[Row]:
    suffix = path.suffix.lower()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if suffix == ".csv":
            return list(_csv_rows(handle))
        if suffix in (".jsonl", ".ndjson"):
            return list(_jsonl_rows(handle))
    raise EnrollFileError(f"{path}: expected a .csv or .jsonl file")


def _csv_rows(handle: TextIO) -> Iterator[Row]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise EnrollFileError("the CSV needs a header row with an `id` column")
    for record in reader:
        contact: dict[str, Any] = {}
        fields: dict[str, str] = {}
        for column, value in record.items():
            if column is None or value is None or value == "":
                continue  # a short row, or an empty cell
            if column in CONTACT_COLUMNS:
                contact[column] = value
            elif column == "tags":
                contact["tags"] = [t.strip() for t in value.split(";") if t.strip()]
            else:
                fields[column] = value
        if fields:
            contact["fields"] = fields
        yield Row(line=reader.line_num, contact=contact)


def _jsonl_rows(handle: TextIO) -> Iterator[Row]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            yield Row(line=number, contact=json.loads(text))
        except ValueError as err:
            # Sent anyway (the API rejects it), so that row indices stay those of the file.
            yield Row(line=number, contact=text.strip(), problem=f"invalid JSON: {err}")


def split_jobs(rows: list[Row], max_rows: int, max_bytes: int) -> list[list[Row]]:
    jobs: list[list[Row]] = []
    current: list[Row] = []
    size = 0
    for row in rows:
        row_size = len(json.dumps(row.contact, separators=(",", ":"))) + 1
        if current and (len(current) >= max_rows or size + row_size > max_bytes):
            jobs.append(current)
            current, size = [], 0
        current.append(row)
        size += row_size
    if current:
        jobs.append(current)
    return jobs


class Progress:
    """A rich progress bar on a terminal; plain lines otherwise (logs, CI, pipes)."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.last: tuple[int, int, int, int] | None = None
        self.bar: Any = None
        if out.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]enrolling"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
            )
            self.bar.start()
            self.task = self.bar.add_task("enroll", total=total, counts="")

    def update(self, done: int, created: int, existing: int, rejected: int) -> None:
        state = (done, created, existing, rejected)
        if state == self.last:
            return
        self.last = state
        counts = f"created {created} · existing {existing} · rejected {rejected}"
        if self.bar is not None:
            self.bar.update(self.task, completed=done, counts=counts)
        else:
            percent = 100 * done // self.total if self.total else 100
            print(f"progress {done}/{self.total} ({percent}%) · {counts}", file=self.out)
            self.out.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def enroll_file(
    automation_id: str,
    path: Path,
    *,
    api: str,
    api_key: str | None = None,
    version: int | None = None,
    poll_seconds: float = 0.5,
    max_job_rows: int = MAX_JOB_ROWS,
    max_body_bytes: int = 9_000_000,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    rows = read_rows(path)
    if not rows:
        raise EnrollFileError(f"{path}: no contacts")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    summary = Summary(total=len(rows))
    progress = Progress(len(rows), out)
    try:
        with httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=120) as http:
            for job_rows in split_jobs(rows, max_job_rows, max_body_bytes):
                job = Job(http, automation_id, version, job_rows)
                job.run(summary, progress, poll_seconds, sleep)
    finally:
        progress.close()
    summary.rejected.sort()
    return summary


@dataclass
class Job:
    http: httpx.Client
    automation_id: str
    version: int | None
    rows: list[Row]

    def run(
        self,
        summary: Summary,
        progress: Progress,
        poll_seconds: float,
        sleep: Callable[[float], None],
    ) -> None:
        """Submit the rows, follow the job to its end, add its counts to `summary`."""
        body: dict[str, Any] = {"contacts": [row.contact for row in self.rows]}
        if self.version is not None:
            body["version"] = self.version
        url = f"/v1/automations/{self.automation_id}/enrollments/bulk"
        job_id = _call(self.http.post, url, json=body)["job_id"]
        before = (summary.done, summary.created, summary.existing, len(summary.rejected))
        unavailable_since: float | None = None
        while True:
            try:
                job = _call(self.http.get, f"/v1/jobs/{job_id}")
            except Unavailable:
                # No worker answers for the job (one is restarting): it goes on without us.
                now = time.monotonic()
                unavailable_since = unavailable_since or now
                if now - unavailable_since > MAX_UNAVAILABLE_SECONDS:
                    raise
                sleep(poll_seconds)
                continue
            unavailable_since = None
            progress.update(
                before[0] + job["done"],
                before[1] + job["created"],
                before[2] + job["existing"],
                before[3] + len(job["rejected"]),
            )
            if job["status"] != "running":
                break
            sleep(poll_seconds)
        summary.done += job["done"]
        summary.created += job["created"]
        summary.existing += job["existing"]
        for item in job["rejected"]:
            row = self.rows[item["index"]]
            summary.rejected.append((row.line, row.problem or item["reason"]))
        if job["status"] != "completed":
            error = job.get("error") or ""
            summary.failed.append(f"job {job_id} {job['status']}: {error}".strip())


def _call(method: Callable[..., httpx.Response], url: str, **kwargs: Any) -> Any:
    try:
        response = method(url, **kwargs)
    except httpx.HTTPError as err:
        raise EnrollFileError(f"cannot reach the API: {err}") from err
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code == 413:
            detail = f"{detail} — send fewer rows per job (--job-rows) or raise the API's limit"
        problem = f"{response.request.method} {url}: {response.status_code} {detail}"
        if response.status_code == 503:
            raise Unavailable(problem)
        raise EnrollFileError(problem)
    return response.json()


def print_summary(summary: Summary, out: TextIO = sys.stdout) -> None:
    print(
        f"done: {summary.done}/{summary.total} rows · created {summary.created} · "
        f"existing {summary.existing} · rejected {len(summary.rejected)}",
        file=out,
    )
    for line, reason in summary.rejected[:SHOWN_REJECTS]:
        print(f"  line {line}: {reason}", file=out)
    if len(summary.rejected) > SHOWN_REJECTS:
        print(f"  … and {len(summary.rejected) - SHOWN_REJECTS} more rejected rows", file=out)
    for failure in summary.failed:
        print(f"failed: {failure}", file=out)
