"""The frame the SQL collectors (postgres, mysql) share: options cache, HELP texts from the
shipped profiles, and the blocking driver work moved to a thread. Each driver module adds only its
connection and its poll."""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from opsagent.collectors.base import CollectResult
from opsagent.collectors.optcache import OptionsCache
from opsagent.collectors.queryrun import QueryRunner, Transform
from opsagent.collectors.sqlquery import profile_help
from opsagent.inventory.model import Asset, CollectorSpec

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class SqlCollector(Generic[OptionsT]):
    name: ClassVar[str]
    up_metric: ClassVar[str]
    options_model: type[OptionsT]
    metric_prefix: ClassVar[str]  # the exporter's prefix of the profile's metric names (pg, mysql)
    success_metric: ClassVar[str]  # the exporter's per-collector success gauge, here one per query
    transforms: ClassVar[dict[str, Transform]]
    extra_help: ClassVar[dict[str, str]]

    def __init__(self) -> None:
        self._options: OptionsCache[OptionsT] = OptionsCache(self.options_model)
        self._runner = QueryRunner(self.metric_prefix, self.transforms, self.success_metric)

    @cached_property
    def help(self) -> dict[str, str]:
        from opsagent.config import shipped_content_root

        return {**profile_help(shipped_content_root() / "collectors" / self.name), **self.extra_help}

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        options = self._options.get(spec.options)
        return await asyncio.to_thread(self.collect_sync, asset, options)

    def collect_sync(self, asset: Asset, options: OptionsT) -> CollectResult:
        raise NotImplementedError
