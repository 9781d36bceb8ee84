"""Who takes which path of a split, and who is held out (docs/automations.md, Experiments).

Both are pure functions of ids, never of chance or time: a SHA-256 of (automation id, contact
id[, split step id]) read as a number, so the same contact takes the same path on every
enrollment, on every replay and in every simulation, and the API can tell who was held out
without asking the enrollment. Workflow code (passed through the sandbox).

What visibility sees: an enrollment writes the path it took, `STEP/PATH`, and a held-out one
`/holdout`, into its `GoalflowReached` search attribute, beside the step ids it reached (a `/`
is never in a step id). The values ride on the upserts the enrollment makes anyway (a held-out
one has them from its start), so an experiment costs no Temporal action of its own and the
report's counts are count queries.
"""

from __future__ import annotations

import hashlib

from workflows.definition import Automation, Holdout, SplitPath, SplitStep

# The `GoalflowReached` value of a held-out enrollment.
HOLDOUT_MARK = "/holdout"
# Buckets a percentage of contacts is counted in: 1 % is 100 of them.
HOLDOUT_BUCKETS = 10_000


def stable_number(*parts: str) -> int:
    """A 64-bit number that only depends on `parts` (their order included)."""
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(joined).digest()[:8], "big")


def split_path(automation_id: str, contact_id: str, step: SplitStep) -> SplitPath:
    """The path this contact takes at this split: path k with probability weight k / total
    (the modulo bias of 2**64 by a total of at most 500 is below 1e-16)."""
    total = sum(path.weight for path in step.paths)
    point = stable_number("split", automation_id, contact_id, step.id) % total
    for path in step.paths:
        if point < path.weight:
            return path
        point -= path.weight
    raise AssertionError("unreachable: point < total")


def is_held_out(automation_id: str, contact_id: str, holdout: Holdout | None) -> bool:
    """Whether this contact's enrollments in this automation are held out (every version:
    the hash does not see the version, so a contact stays on its side across versions)."""
    if holdout is None:
        return False
    bucket = stable_number("holdout", automation_id, contact_id) % HOLDOUT_BUCKETS
    return bucket < holdout.percent * (HOLDOUT_BUCKETS // 100)


def path_mark(step_id: str, path_id: str) -> str:
    """The `GoalflowReached` value of an enrollment that took this path."""
    return f"{step_id}/{path_id}"


def split_errors(
    automation: Automation, positions: dict[str, int]
) -> list[tuple[tuple[int | str, ...], str, str]]:
    """What a publish refuses in splits beyond their model: a path id used twice in one step,
    a path to a step that does not exist. (loc, error type, message) each."""
    errors: list[tuple[tuple[int | str, ...], str, str]] = []
    for i, step in enumerate(automation.steps):
        if not isinstance(step, SplitStep):
            continue
        seen: dict[str, int] = {}
        for j, path in enumerate(step.paths):
            if path.id in seen:
                errors.append(
                    (
                        ("steps", i, "paths", j, "id"),
                        "duplicate_path_id",
                        f"path id {path.id!r} is already used by path {seen[path.id]}",
                    )
                )
            else:
                seen[path.id] = j
            if path.next not in positions:
                errors.append(
                    (
                        ("steps", i, "paths", j, "next"),
                        "unknown_step",
                        f"no step has id {path.next!r}",
                    )
                )
    return errors
