"""The namespace check: the custom search attributes the workflows write
(workflows/search_attributes.py) exist in the worker's Temporal namespace, with their types.

A namespace without them (a production upgrade that skipped deploy/temporal/setup-namespace.sh)
lets a worker start, and then fails every enrollment's first workflow task. So the worker looks
before it polls (`prepare_namespace`: it stops with the `temporal` commands that create what is
missing, or creates them itself with GOALFLOW_REGISTER_SEARCH_ATTRIBUTES=true), and the API's
/readyz says the same (`NamespaceProbe`). Where Temporal refuses the listing (Temporal Cloud,
whose API keys may lack the permission), both log a warning and go on: docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from workflows.search_attributes import SEARCH_ATTRIBUTES

log = structlog.get_logger("goalflow.namespace")

# Answers that mean "you may not (or cannot) list here", not "the namespace is broken".
UNCHECKABLE = (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)


def cli_type(value: SearchAttributeIndexedValueType | int) -> str:
    """KEYWORD_LIST -> KeywordList, the type name the `temporal` CLI takes."""
    name = SearchAttributeIndexedValueType(value).name
    return "".join(part.capitalize() for part in name.split("_"))


def create_command(key: SearchAttributeKey[Any], namespace: str) -> str:
    return (
        f"temporal operator search-attribute create --namespace {namespace} "
        f"--name {key.name} --type {cli_type(key.indexed_value_type)}"
    )


class NamespaceNotReady(Exception):
    """The namespace lacks search attributes goalflow writes (or has them with another type)."""


@dataclass(frozen=True)
class NamespaceReport:
    namespace: str
    missing: tuple[SearchAttributeKey[Any], ...] = ()
    # (what goalflow needs, the type the namespace has under that name)
    mistyped: tuple[tuple[SearchAttributeKey[Any], str], ...] = ()
    # Why the namespace could not be inspected (the listing was refused); None when it was.
    unchecked: str | None = None

    @property
    def ready(self) -> bool:
        return not self.missing and not self.mistyped

    def problem(self) -> str:
        """What is wrong and the commands that fix it, for a log line, an exit or /readyz."""
        parts = []
        if self.missing:
            names = ", ".join(f"{k.name} ({cli_type(k.indexed_value_type)})" for k in self.missing)
            commands = "; ".join(create_command(k, self.namespace) for k in self.missing)
            parts.append(
                f"Temporal namespace {self.namespace!r} lacks the search attributes {names} "
                f"that goalflow's workflows write. Create them with: {commands} "
                "(deploy/temporal/setup-namespace.sh creates them all), or start the worker "
                "once with GOALFLOW_REGISTER_SEARCH_ATTRIBUTES=true."
            )
        for key, has in self.mistyped:
            parts.append(
                f"Search attribute {key.name} of namespace {self.namespace!r} has type {has}; "
                f"goalflow needs {cli_type(key.indexed_value_type)}: remove it "
                f"(temporal operator search-attribute remove --namespace {self.namespace} "
                f"--name {key.name}) and create it again with the right type."
            )
        return " ".join(parts)


async def inspect_namespace(client: Client, namespace: str | None = None) -> NamespaceReport:
    """Which of goalflow's search attributes `namespace` (the client's) lacks or mistypes."""
    namespace = namespace or client.namespace
    try:
        listing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status in UNCHECKABLE:
            return NamespaceReport(namespace, unchecked=f"{err.status.name}: {err.message}")
        raise
    present = dict(listing.custom_attributes)
    missing = tuple(key for key in SEARCH_ATTRIBUTES if key.name not in present)
    mistyped = tuple(
        (key, cli_type(present[key.name]))
        for key in SEARCH_ATTRIBUTES
        if key.name in present and present[key.name] != key.indexed_value_type.value
    )
    return NamespaceReport(namespace, missing, mistyped)


async def prepare_namespace(
    client: Client, *, register: bool, namespace: str | None = None
) -> NamespaceReport:
    """At a worker's start: raise NamespaceNotReady unless the namespace has every search
    attribute goalflow writes; with `register`, create the missing ones first."""
    report = await inspect_namespace(client, namespace)
    if report.unchecked:
        log.warning(
            "could not list the namespace's search attributes; starting without the check",
            namespace=report.namespace,
            error=report.unchecked,
            needed=[key.name for key in SEARCH_ATTRIBUTES],
        )
        return report
    if report.missing and register:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=report.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                    for key in report.missing
                },
            )
        )
        log.info(
            "search attributes created",
            namespace=report.namespace,
            names=[key.name for key in report.missing],
        )
        report = NamespaceReport(report.namespace, (), report.mistyped)
    if not report.ready:
        raise NamespaceNotReady(report.problem())
    return report


class NamespaceProbe:
    """/readyz's view of the namespace, inspected at most once per `ttl` seconds however often
    it is probed (concurrent probes share one listing). A failed listing is not kept."""

    def __init__(
        self,
        client: Client,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._report: NamespaceReport | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()
        self._warned = False

    async def report(self) -> NamespaceReport:
        async with self._lock:
            if self._report is None or self.clock() >= self._until:
                self._report = await inspect_namespace(self.client)
                self._until = self.clock() + self.ttl
                if self._report.unchecked and not self._warned:
                    self._warned = True
                    log.warning(
                        "could not list the namespace's search attributes; /readyz skips them",
                        namespace=self._report.namespace,
                        error=self._report.unchecked,
                    )
            return self._report
