"""The collector protocol every transport follows (local, SSH, SNMP, databases, probes).

A collector turns one asset into one :class:`CollectResult`. Failures are values (``outcome`` and
``reason``), never exceptions crossing the asset boundary, so a fan-out over 500 assets returns 500
results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel

from opsagent.inventory.model import Asset, CollectorSpec

SampleKind = Literal["gauge", "counter", "info"]


class Outcome(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"


class Sample(NamedTuple):
    """One series value. ``name`` is the full exposition name (``node_cpu_seconds_total``).

    A named tuple rather than a frozen dataclass: collectors build hundreds per poll per target,
    and a frozen dataclass pays an ``object.__setattr__`` per field (3-4x slower to create)."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    kind: SampleKind = "gauge"

    @classmethod
    def of(cls, name: str, value: float, kind: SampleKind = "gauge", /, **labels: str) -> Sample:
        return cls(name, tuple(sorted(labels.items())), float(value), kind)


Signature = list[tuple[str, tuple[tuple[str, str], ...], str]]  # (name, labels, kind) per sample


class Revalued(list[Sample]):
    """Samples of the same series, in the same order, as an earlier batch: ``signature`` is that
    batch's ``(name, labels, kind)`` list — the very object each time, so a consumer that kept it
    knows the series by identity — and ``values`` the new values (SNMP worker processes send only
    these when a device's series are unchanged). The metrics registry reads only those two; for
    anyone else it is the list of the samples, built on first use (``samples=None``) — at fleet
    scale building ~1,800 samples a poll that nobody reads was the largest cost left in serve."""

    __slots__ = ("_lazy", "signature", "values")

    def __init__(self, signature: Signature, values: list[float], samples: Iterable[Sample] | None = None) -> None:
        super().__init__(() if samples is None else samples)
        self.signature = signature
        self.values = values
        self._lazy = samples is None

    def _fill(self) -> None:
        if self._lazy:
            self._lazy = False
            list.extend(self, map(_sample_of, self.signature, self.values))

    def __reduce__(self) -> tuple[Any, ...]:  # pickle, copy: the samples themselves
        self._fill()
        return (Revalued, (self.signature, self.values, list(list.__iter__(self))))


def _sample_of(series: tuple[str, tuple[tuple[str, str], ...], str], value: float) -> Sample:
    return tuple.__new__(Sample, (series[0], series[1], value, series[2]))


def _filled(name: str) -> Any:
    """``list.<name>``, once the lazy samples are there (in every Revalued argument too)."""
    method = getattr(list, name)

    def call(self: Revalued, *args: Any) -> Any:
        self._fill()
        for arg in args:
            if isinstance(arg, Revalued):
                arg._fill()
        return method(self, *args)

    call.__name__ = name
    return call


for _name in (
    "__iter__", "__len__", "__getitem__", "__setitem__", "__delitem__", "__contains__", "__reversed__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__iadd__", "__mul__", "__imul__",
    "__rmul__", "__repr__", "append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse",
    "clear", "copy",
):  # fmt: skip
    setattr(Revalued, _name, _filled(_name))


@dataclass(slots=True)
class CollectResult:
    asset: str
    collector: str
    outcome: Outcome = Outcome.OK
    reason: str = ""
    message: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    duration: float = 0.0
    started: float = 0.0  # Unix time the poller started the collector (0: it never ran)
    # ok as data, but part of the poll waited out a timeout (a probe of an address that never
    # answers: blackbox_exporter's probe_success 0): for scheduling the target counts as failing
    stalled: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.OK, Outcome.CHANGED)

    @classmethod
    def failure(cls, asset: str, collector: str, outcome: Outcome, reason: str, message: str) -> CollectResult:
        return cls(asset=asset, collector=collector, outcome=outcome, reason=reason, message=message)


class Collector(Protocol):
    """A transport. The poller enforces ``spec.effective_timeout`` and turns a stray exception
    into a failed result, but a collector should report its own failures with a precise reason."""

    @property
    def name(self) -> str: ...

    @property
    def help(self) -> Mapping[str, str]:
        """HELP text per metric name it emits."""
        ...

    @property
    def options_model(self) -> type[BaseModel]:
        """Validates profile and per-asset options."""
        ...

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult: ...
