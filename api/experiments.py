"""The experiments report of one automation version: per split path and for held-out against
treated contacts, enrollments and goals met, with their intervals (`GET
/v1/automations/{id}/experiments`, docs/api.md).

Counts are visibility count queries on the values enrollments write in `GoalflowReached`
(workflows/experiments.py: `STEP/PATH`, `/holdout`) and `GoalflowGoalsMet`, in the upserts they
make anyway; so they lag the enrollments by a second, like every visibility answer.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio.client import Client

from api.experiment_stats import difference_interval, wilson_interval
from goalflow.service.visibility import enrollment_query, quote
from workflows.definition import Automation, GoalStep, SplitStep
from workflows.experiments import HOLDOUT_MARK, path_mark
from workflows.search_attributes import GOALS_MET, REACHED, VERSION

# Rates and bounds are rounded: more digits than this only show the float arithmetic.
DIGITS = 6


class GoalRate(BaseModel):
    met: int
    rate: float | None  # None when nobody entered
    ci95: tuple[float, float] | None


class Group(BaseModel):
    entered: int
    goals: dict[str, GoalRate]


class PathReport(Group):
    path_id: str
    weight: int


class SplitReport(BaseModel):
    step_id: str
    paths: list[PathReport]


class Lift(BaseModel):
    absolute: float | None  # treated rate − held-out rate
    relative: float | None  # absolute ÷ held-out rate; None when that rate is 0
    ci95: tuple[float, float] | None  # for `absolute`


class HoldoutReport(BaseModel):
    percent: int
    held_out: Group
    treated: Group
    lift: dict[str, Lift]


class ExperimentsReport(BaseModel):
    automation_id: str
    version: int
    splits: list[SplitReport]
    holdout: HoldoutReport | None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def _interval(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if interval is None else (round(interval[0], DIGITS), round(interval[1], DIGITS))


def group(entered: int, met: dict[str, int]) -> Group:
    return Group(
        entered=entered,
        goals={
            goal: GoalRate(
                met=count,
                rate=_round(count / entered) if entered else None,
                ci95=_interval(wilson_interval(count, entered)),
            )
            for goal, count in met.items()
        },
    )


def lift(treated: Group, held_out: Group) -> dict[str, Lift]:
    lifts = {}
    for goal, t in treated.goals.items():
        h = held_out.goals[goal]
        absolute = relative = None
        if treated.entered and held_out.entered:
            t_rate, h_rate = t.met / treated.entered, h.met / held_out.entered
            absolute = t_rate - h_rate
            relative = absolute / h_rate if h_rate else None
        lifts[goal] = Lift(
            absolute=_round(absolute),
            relative=_round(relative),
            ci95=_interval(difference_interval(t.met, treated.entered, h.met, held_out.entered)),
        )
    return lifts


async def experiments_report(
    client: Client, automation_id: str, version: int, definition: Automation
) -> ExperimentsReport:
    base = f"{enrollment_query(automation_id)} AND {VERSION.name} = {int(version)}"
    goals = [step.id for step in definition.steps if isinstance(step, GoalStep)]

    async def count(query: str) -> int:
        return (await client.count_workflows(query)).count

    async def counts(where: str | None) -> tuple[int, dict[str, int]]:
        """Enrollments of the version (matching `where`), and per goal how many met it."""
        scope = base if where is None else f"{base} AND {where}"
        entered, *met = await asyncio.gather(
            count(scope), *(count(f"{scope} AND {GOALS_MET.name} = {quote(g)}") for g in goals)
        )
        return entered, dict(zip(goals, met, strict=True))

    splits = [step for step in definition.steps if isinstance(step, SplitStep)]
    holdout = definition.settings.holdout
    taking = [
        counts(f"{REACHED.name} = {quote(path_mark(step.id, path.id))}")
        for step in splits
        for path in step.paths
    ]
    if holdout is not None:
        taking += [counts(None), counts(f"{REACHED.name} = {quote(HOLDOUT_MARK)}")]
    counted = iter(await asyncio.gather(*taking))

    split_reports = []
    for step in splits:
        paths = []
        for path in step.paths:
            entered, met = next(counted)
            paths.append(
                PathReport(path_id=path.id, weight=path.weight, **group(entered, met).model_dump())
            )
        split_reports.append(SplitReport(step_id=step.id, paths=paths))
    holdout_report = None
    if holdout is not None:
        (all_entered, all_met), (held_entered, held_met) = next(counted), next(counted)
        held_out = group(held_entered, held_met)
        treated = group(all_entered - held_entered, {g: all_met[g] - held_met[g] for g in goals})
        holdout_report = HoldoutReport(
            percent=holdout.percent,
            held_out=held_out,
            treated=treated,
            lift=lift(treated, held_out),
        )
    return ExperimentsReport(
        automation_id=automation_id,
        version=version,
        splits=split_reports,
        holdout=holdout_report,
    )
