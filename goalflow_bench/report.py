"""What every benchmark prints: the machine, the versions, the parameters, the figures, the
targets with a verdict; as a table or as one JSON object. Progress goes to stderr."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["met", "missed", "not available"]


@dataclass
class Target:
    figure: str
    target: str  # as written in docs/benchmarks.md
    measured: float | None
    unit: str
    verdict: Verdict


@dataclass
class Report:
    benchmark: str
    parameters: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    # Profile: the top frames per process (JSON), and their tables (printed after the targets).
    top_frames: dict[str, Any] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)

    def target(
        self,
        figure: str,
        target: str,
        measured: float | None,
        unit: str,
        ok: bool | None,
    ) -> None:
        """`ok` None: the figure could not be measured."""
        verdict: Verdict = "not available" if ok is None else ("met" if ok else "missed")
        self.targets.append(Target(figure, target, measured, unit, verdict))

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "machine": self.machine,
            "versions": self.versions,
            "parameters": self.parameters,
            "figures": self.figures,
            "targets": [t.__dict__ for t in self.targets],
            "notes": self.notes,
            **({"top_frames": self.top_frames} if self.top_frames else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str, ensure_ascii=False)

    def to_table(self) -> str:
        lines = [f"goalflow bench {self.benchmark}", ""]
        lines += _section("machine", self.machine)
        lines += _section("versions", self.versions)
        lines += _section("parameters", self.parameters)
        lines += _section("figures", self.figures)
        if self.targets:
            rows = [("figure", "measured", "target", "verdict")]
            rows += [
                (t.figure, _fmt(t.measured, t.unit), t.target, t.verdict) for t in self.targets
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(4)]
            lines.append("targets (docs/benchmarks.md)")
            for index, row in enumerate(rows):
                lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
                if index == 0:
                    lines.append("  " + "  ".join("-" * w for w in widths))
            lines.append("")
        lines += self.sections
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines).rstrip() + "\n"


def _section(title: str, values: dict[str, Any]) -> list[str]:
    if not values:
        return []
    return [title, *_lines(values, "  "), ""]


def _lines(values: dict[str, Any], indent: str) -> list[str]:
    width = max(len(k) for k in values)
    lines = []
    for key, value in values.items():
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            lines.append(f"{indent}{key}")
            lines += _lines(value, indent + "  ")
        else:
            lines.append(f"{indent}{key.ljust(width)}  {_fmt(value, '')}")
    return lines


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    elif isinstance(value, dict):
        text = ", ".join(f"{k} {_fmt(v, '')}" for k, v in value.items())
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


# --- machine and versions ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform()}
    meminfo = _read("/proc/meminfo")
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            info["memory_mb"] = int(line.split()[1]) // 1024
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions(temporal_server: str | None = None) -> dict[str, Any]:
    from importlib.metadata import version

    import goalflow

    found: dict[str, Any] = {
        "goalflow": goalflow.__version__,
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
    }
    try:
        from goalflow.cli.binaries import temporal_cli

        out = subprocess.run(
            [temporal_cli(), "--version"], capture_output=True, text=True, timeout=10
        )
        found["temporal_cli"] = out.stdout.strip().removeprefix("temporal version ")
    except (OSError, subprocess.SubprocessError):
        found["temporal_cli"] = None
    if temporal_server:
        found["temporal_server"] = temporal_server
    return found


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process, from /proc (Linux)."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux); 0 when unknown."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    if len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the Temporal server and by goalflow's Python processes between
    start() and stop(): unlike wall time, barely moved by other load on a shared machine."""

    def __init__(self, server_pid: int | None, python_pids: list[int]) -> None:
        self.server_pid = server_pid
        self.python_pids = python_pids
        self.server = 0.0
        self.python = 0.0

    def _now(self) -> tuple[float, float]:
        server = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        return server, sum(cpu_seconds(pid) for pid in self.python_pids)

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> None:
        server, python = self._now()
        self.server += server - self._started[0]
        self.python += python - self._started[1]


# --- statistics -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max of durations given in seconds, in milliseconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "p50": _round(percentile(ms, 50)),
        "p95": _round(percentile(ms, 95)),
        "p99": _round(percentile(ms, 99)),
        "max": _round(max(ms) if ms else None),
        "count": len(ms),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class Progress:
    """A line on stderr every few seconds: what is done, out of how many, how fast."""

    def __init__(self, label: str, total: int | None = None, every: float = 2.0) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self.last = self.started

    def tick(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._print(now)

    def set(self, done: int) -> None:
        self.tick(done - self.done)

    def finish(self) -> None:
        self._print(time.monotonic())

    def _print(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        total = f"/{self.total}" if self.total is not None else ""
        print(
            f"[bench] {self.label}: {self.done}{total} in {elapsed:.1f}s "
            f"({self.done / elapsed:.1f}/s)",
            file=sys.stderr,
            flush=True,
        )


def note(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
