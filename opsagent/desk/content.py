"""The desk's content, beside the service-level policy: the category tree (``desk/categories.yaml``)
and the routing rules (``desk/routing.yaml``) that pick the responsible team. The last content root
holding a file wins; without one, the defaults are the four categories of the service norms
(软件/硬件/网络/其他) and every ticket goes to ``service-desk``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from opsagent.loader import load_model

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
TopKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=16)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    zh: str = Field(min_length=1, max_length=100)
    en: str = Field(min_length=1, max_length=100)


class Category(Label):
    sub: dict[Key, Label] = Field(default_factory=dict, description="sub-categories")


class CategoryFile(_Strict):
    categories: dict[TopKey, Category] = Field(min_length=1)


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Values = Annotated[list[str], BeforeValidator(_listed)]


class When(_Strict):
    """Every key given must match (a list: any of its values); an empty ``when`` matches all."""

    category: Values = Field(default_factory=list)
    subcategory: Values = Field(default_factory=list)
    type: Values = Field(default_factory=list)
    asset_group: Values = Field(default_factory=list)
    organisation: Values = Field(default_factory=list)


class Rule(_Strict):
    team: str = Field(min_length=1, max_length=255)
    when: When = When()


class RoutingFile(_Strict):
    default_team: str = Field(default="service-desk", min_length=1, max_length=255)
    rules: list[Rule] = Field(default_factory=list)


DEFAULT_CATEGORIES = CategoryFile(
    categories={
        "software": Category(zh="软件", en="Software"),
        "hardware": Category(zh="硬件", en="Hardware"),
        "network": Category(zh="网络", en="Network"),
        "other": Category(zh="其他", en="Other"),
    }
)


@dataclass(frozen=True)
class Facts:
    """What routing looks at of a ticket."""

    category: str
    subcategory: str
    type: str
    asset_groups: frozenset[str]
    organisation: str | None


@dataclass(frozen=True)
class DeskContent:
    categories: CategoryFile
    routing: RoutingFile

    def check_category(self, category: str, subcategory: str) -> str | None:
        """None when the pair is in the tree, else why not."""
        found = self.categories.categories.get(category)
        if found is None:
            return f"{category!r} is not a category ({', '.join(self.categories.categories)})"
        if subcategory and subcategory not in found.sub:
            known = ", ".join(found.sub) or "none"
            return f"{subcategory!r} is not a sub-category of {category} ({known})"
        return None

    def route(self, facts: Facts) -> str:
        """The team of the first rule that matches, else the default team."""
        for rule in self.routing.rules:
            if _matches(rule.when, facts):
                return rule.team
        return self.routing.default_team


def _matches(when: When, f: Facts) -> bool:
    if when.category and f.category not in when.category:
        return False
    if when.subcategory and f.subcategory not in when.subcategory:
        return False
    if when.type and f.type not in when.type:
        return False
    if when.asset_group and not f.asset_groups & set(when.asset_group):
        return False
    return not when.organisation or f.organisation in when.organisation


def _last(roots: Iterable[Path], names: tuple[str, ...]) -> Path | None:
    found: Path | None = None
    for root in roots:
        for name in names:
            if (root / "desk" / name).is_file():
                found = root / "desk" / name
    return found


def load_desk(roots: Iterable[Path]) -> DeskContent:
    """The category tree and routing rules in effect (raises ConfigError with file:line)."""
    roots = list(roots)
    cats = _last(roots, ("categories.yaml", "categories.yml"))
    routing = _last(roots, ("routing.yaml", "routing.yml"))
    return DeskContent(
        load_model(cats, CategoryFile) if cats else DEFAULT_CATEGORIES,
        load_model(routing, RoutingFile) if routing else RoutingFile(),
    )
