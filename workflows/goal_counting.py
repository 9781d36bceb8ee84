"""Counting accepted events toward a goal: `any_of`, `all_of`, `sequence`, `min_count` (R21).

Plain code beside the matcher (workflows/matching.py says which criteria an event matches;
this says what that does to the goal), passed through the sandbox and run by the enrollment and
by every simulation alike. The state it changes is plain data that continue-as-new carries:
each criterion's `CriterionStatus` and, for a `sequence` goal not met yet, its attempts.

An event *meets* a goal when it matches one of its criteria and, counting it, the goal's
condition holds: for `any_of`, that criterion has its `min_count` (1 unless set); for
`all_of`, every criterion has; for a `sequence`, an attempt has gone through every criterion
in order. Once a goal is met, every later event matching one of its criteria meets it again
(R4's recorded match, and a move where R3/R4 allow one). An `any_of` goal without `min_count`
is met by any matching event, as before compound goals existed.

A `sequence` attempt begins at a match of the first criterion; an event moves each attempt on
by at most one match, so each criterion is met by events accepted after the previous one's.
With `within`, an attempt whose first match is more than `within` older than an event is dropped
before the event counts, and every first-criterion match begins an attempt of its own; only
attempts that may still finish first are kept: of two, the later-begun one with as much
progress. There are then at most as many as the matches the sequence needs in all (at most
1,000 by the publish-time limit, workflows/criteria_limits.py), which bounds the state; past
`MAX_ATTEMPTS` the oldest go.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from workflows.definition import GoalStep
from workflows.durations import parse_duration
from workflows.messages import CriterionStatus, GoalStatus, SequenceAttempt

MAX_ATTEMPTS = 1000


def ready(goal: GoalStep, status: GoalStatus) -> None:
    """Give `status` a count per criterion of `goal` (a run from before compound goals, or a
    goal whose criteria changed with a move to another version, starts from none)."""
    if len(status.criteria) != len(goal.criteria):
        status.criteria = [CriterionStatus() for _ in goal.criteria]


def count_event(
    goal: GoalStep,
    status: GoalStatus,
    attempts: list[SequenceAttempt],
    matched: Collection[int],
    at: datetime,
) -> tuple[bool, list[SequenceAttempt]]:
    """Count one accepted event, accepted at `at`, that matches the criteria at the indices
    `matched` (not empty) of `goal`. Returns whether it meets the goal and the goal's attempts
    from now on (a sequence not met yet; else empty). `status` is updated but for `met`, which
    the caller sets with the rest of R9."""
    criteria = goal.criteria
    counts = status.criteria
    if status.met or goal.kind != "sequence":
        for i in matched:
            counts[i].count += 1
            counts[i].matched = counts[i].matched or counts[i].count >= criteria[i].needed
        if status.met:
            return True, []
        if goal.kind == "any_of":
            return any(counts[i].matched for i in matched), []
        return all(c.matched for c in counts), []
    window = parse_duration(goal.within) if goal.within is not None else None
    if window is not None:
        attempts = [a for a in attempts if at - a.started <= window]
    moved = [_step(a, goal) if a.position in matched else a for a in attempts]
    if 0 in matched and (window is not None or not moved):
        moved.append(_step(SequenceAttempt(started=at), goal))
    kept = _not_dominated(moved)[-MAX_ATTEMPTS:]
    best = kept[0] if kept else None
    for i, criterion in enumerate(criteria):
        if best is not None and i < best.position:
            counts[i] = CriterionStatus(matched=True, count=criterion.needed)
        elif best is not None and i == best.position:
            counts[i] = CriterionStatus(count=best.count)
        else:
            counts[i] = CriterionStatus()
    if best is not None and best.position >= len(criteria):
        return True, []
    return False, kept


def _step(attempt: SequenceAttempt, goal: GoalStep) -> SequenceAttempt:
    """`attempt` moved on by one event matching the criterion it is at."""
    count = attempt.count + 1
    if count >= goal.criteria[attempt.position].needed:
        return SequenceAttempt(started=attempt.started, position=attempt.position + 1)
    return SequenceAttempt(started=attempt.started, position=attempt.position, count=count)


def _not_dominated(attempts: list[SequenceAttempt]) -> list[SequenceAttempt]:
    """Oldest first, each with more progress than every later one: an attempt begun earlier
    with no more progress than a later one can never finish before it, and runs out sooner."""
    kept: list[SequenceAttempt] = []
    for attempt in reversed(attempts):  # newest first
        if not kept or _progress(attempt) > _progress(kept[-1]):
            kept.append(attempt)
    kept.reverse()
    return kept


def _progress(attempt: SequenceAttempt) -> tuple[int, int]:
    return attempt.position, attempt.count


def goal_progress(goal: GoalStep, status: GoalStatus) -> tuple[int, int] | None:
    """(events counted, events needed) toward a goal not met, for the Temporal UI's details
    line: for `all_of` and `sequence` over all its criteria, for `any_of` with a `min_count`
    the criterion closest to done; None for an `any_of` goal any one event meets."""
    criteria = goal.criteria
    if status.met or len(status.criteria) != len(criteria):
        return None
    if goal.kind == "any_of":
        if all(c.needed == 1 for c in criteria):
            return None
        pairs = zip(criteria, status.criteria, strict=True)
        return max(
            ((min(s.count, c.needed), c.needed) for c, s in pairs),
            key=lambda done_needed: done_needed[0] / done_needed[1],
        )
    done = sum(min(s.count, c.needed) for c, s in zip(criteria, status.criteria, strict=True))
    return done, sum(c.needed for c in criteria)
