"""`goalflow bench profile`: the throughput work (or, with `--work ingest`, the ingest work)
under py-spy. py-spy samples the goalflow worker process and this process (the API, with the
benchmark's own HTTP client and the floor worker beside it) and each sampling becomes an SVG
flame graph and a table of the frames where the time is spent (self time)."""

from __future__ import annotations

import html
import os
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from goalflow_bench.ingest import ingest
from goalflow_bench.report import Report, note
from goalflow_bench.runs import BenchOptions, throughput
from goalflow_bench.stack import Stack

TOP = 15
RATE = 100  # samples per second
# Innermost frames that are waiting, not working: the event loop's select and an idle thread of
# a pool. --nonblocking sampling cannot tell idle threads apart, so the table leaves these out.
WORK = {"throughput": throughput, "ingest": ingest}
IDLE = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py", "Condition.wait (")


def _start(pid: int, raw: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("goalflow bench profile: py-spy is not installed (pip install py-spy)")
    # --nonblocking: the process runs on while sampled; --idle off: waiting is not cost.
    args = [py_spy, "record", "--pid", str(pid), "--nonblocking", "--rate", str(RATE)]
    return subprocess.Popen(
        [*args, "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(process: subprocess.Popen[bytes]) -> str:
    # py-spy writes its output when interrupted, as on Ctrl-C.
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err.decode(errors="replace")


@dataclass
class _Node:
    samples: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def read_stacks(raw: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw (collapsed) format: `frame;frame;frame count` per line, outermost first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in raw.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def is_idle(frame: str) -> bool:
    return frame.startswith(IDLE)


def top_frames(stacks: Counter[tuple[str, ...]], top: int = TOP) -> list[dict[str, object]]:
    """The frames with the most self time (samples where the frame is innermost), in % of the
    busy samples (idle ones left out)."""
    own: Counter[str] = Counter()
    for frames, count in stacks.items():
        if not is_idle(frames[-1]):
            own[frames[-1]] += count
    total = max(sum(own.values()), 1)
    return [
        {"frame": frame, "samples": count, "self_pct": round(100 * count / total, 1)}
        for frame, count in own.most_common(top)
    ]


def frames_table(title: str, rows: list[dict[str, object]]) -> list[str]:
    lines = [title, "  self %  samples  frame", "  ------  -------  -----"]
    for row in rows:
        lines.append(f"  {row['self_pct']:>6}  {row['samples']:>7}  {row['frame']}")
    return [*lines, ""]


def flame_svg(stacks: Counter[tuple[str, ...]], title: str) -> str:
    """A flame graph (root at the bottom, width = samples) as a self-contained SVG."""
    root = _Node()
    for frames, count in stacks.items():
        node = root
        node.samples += count
        for frame in frames:
            node = node.children.setdefault(frame, _Node())
            node.samples += count
    width, row = 1200.0, 16
    depth = max((len(frames) for frames in stacks), default=0)
    height = (depth + 2) * row + 24
    total = max(root.samples, 1)
    rects: list[str] = []

    def draw(node: _Node, x: float, level: int) -> None:
        for name, child in sorted(node.children.items()):
            w = width * child.samples / total
            if w >= 0.5:
                y = height - (level + 2) * row
                hue = 20 + (hash(name) % 40)
                label = html.escape(name)
                pct = 100 * child.samples / total
                text = label if w > 7 * len(name) else label[: max(0, int(w / 7) - 2)]
                rects.append(
                    f"<g><title>{label} ({child.samples} samples, {pct:.1f}%)</title>"
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                    f'fill="hsl({hue},90%,60%)"/>'
                    f'<text x="{x + 2:.1f}" y="{y + row - 4}">{text}</text></g>'
                )
                draw(child, x, level + 1)
            x += w

    draw(root, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<text x="4" y="16" font-size="14">{html.escape(title)} ({root.samples} samples)</text>'
        + "".join(rects)
        + "</svg>\n"
    )


def _write(report: Report, raws: dict[str, Path], errors: dict[str, str]) -> None:
    """Each sampling as an SVG beside its raw stacks, and its top frames in the report."""
    for name, raw in raws.items():
        if not raw.exists():
            raise SystemExit(f"goalflow bench profile: no samples of the {name}: {errors[name]}")
        stacks = read_stacks(raw)
        svg = raw.with_suffix(".svg")
        svg.write_text(flame_svg(stacks, f"goalflow {name}"))
        report.top_frames[name] = top_frames(stacks)
        busy = sum(count for frames, count in stacks.items() if not is_idle(frames[-1]))
        title = f"top frames, {name}: self time, % of {busy} busy samples ({svg})"
        report.sections += frames_table(title, report.top_frames[name])


async def profile(stack: Stack, options: BenchOptions) -> Report:
    if not stack.worker_process:
        raise SystemExit("goalflow bench profile: needs the worker in a process of its own")
    work = options.work or "throughput"
    if work not in WORK:
        known = ", ".join(WORK)
        raise SystemExit(f"goalflow bench profile: --work is one of {known}, not {work!r}")
    out = Path(options.output or "goalflow-profile")
    os.makedirs(out, exist_ok=True)
    targets = {"worker": stack.worker_pid, "api": os.getpid()}
    raws = {name: out / f"{name}.txt" for name in targets}
    samplers = {name: _start(pid, raws[name]) for name, pid in targets.items()}
    note(f"profile: py-spy sampling the worker ({stack.worker_pid}) and the API ({os.getpid()})")
    try:
        report = await WORK[work](stack, options)
    finally:
        errors = {name: _stop(sampler) for name, sampler in samplers.items()}
    report.benchmark = "profile"
    report.parameters["work"] = work
    report.parameters["sampler"] = f"py-spy record --nonblocking --rate {RATE}"
    report.parameters["api_process"] = "the API, with the benchmark's driver and floor worker"
    _write(report, raws, errors)
    report.figures["flame_graphs"] = {
        name: str(raw.with_suffix(".svg")) for name, raw in raws.items()
    }
    return report
