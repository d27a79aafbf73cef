"""Validated collector options, cached across polls.

The poller hands a collector a fresh options dict every poll, but its values are the same objects
each time (the profile's query list, the asset's own values): keyed by those identities, a profile
with a dozen SQL queries is validated once, not on every poll. The entry keeps the values alive, so
their ids cannot be reused while it exists; reloaded content has new objects and simply misses.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class OptionsCache(Generic[M]):
    def __init__(self, model: type[M], size: int = 256) -> None:
        self.model = model
        self.size = size
        self._entries: OrderedDict[tuple[tuple[str, int], ...], tuple[tuple[Any, ...], M]] = OrderedDict()

    def get(self, options: Mapping[str, Any]) -> M:
        items = sorted(options.items())
        key = tuple((name, id(value)) for name, value in items)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found[1]
        validated = self.model.model_validate(dict(options))
        self._entries[key] = (tuple(value for _, value in items), validated)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return validated
