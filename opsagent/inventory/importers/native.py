"""Our own inventory YAML: ``groups`` (a mapping) and ``assets`` (a list), both optional.

```yaml
groups:
  prod: {children: [web], vars: {env: prod}}
  web:  {collectors: [{name: local, interval: 30s}]}
assets:
  - {name: web01, kind: host, address: 10.0.0.11, groups: [web], tags: {dc: bj}}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.loader import Document, parse_yaml_file, validation_issues
from opsagent.secrets import SecretRef, is_reference, plain_secrets


class _GroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    children: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    collectors: list[Any] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: dict[str, _GroupBody | None] = Field(default_factory=dict)
    assets: list[dict[str, Any]] = Field(default_factory=list)


def absolutize_refs(asset: Asset, base_dir: Path) -> Asset:
    """Make ``file:`` references absolute, relative to the inventory file that named them."""
    creds = {
        section: {
            k: str(SecretRef.parse(v, base_dir)) if isinstance(v, str) and is_reference(v) else v
            for k, v in fields.items()
        }
        for section, fields in asset.credentials.items()
    }
    return asset.model_copy(update={"credentials": creds})


def inventory_from_document(doc: Document) -> Inventory:
    """Validate a parsed document, collecting every issue of the file before raising."""
    issues = list(doc.issues)
    # Refused before anything else, at the line of the very value (the models refuse them too, less precisely).
    found = [doc.issue(loc, message) for loc, message in plain_secrets(doc.data)]
    if found:
        raise ConfigError(issues + found)
    try:
        shape = _File.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise ConfigError(issues + validation_issues(doc, exc)) from None
    groups: dict[str, Group] = {}
    for name, body in shape.groups.items():
        try:
            groups[name] = Group.model_validate({"name": name, **(body.model_dump() if body else {})})
        except ValidationError as exc:
            issues += validation_issues(doc, exc, ("groups", name))
    assets: dict[str, Asset] = {}
    base_dir = Path(doc.path).resolve().parent
    for index, raw in enumerate(shape.assets):
        try:
            asset = Asset.model_validate({"source": doc.path, **raw})
        except ValidationError as exc:
            issues += validation_issues(doc, exc, ("assets", index))
            continue
        if asset.name in assets:
            issues.append(doc.issue(("assets", index, "name"), f"duplicate asset name {asset.name!r}"))
        assets[asset.name] = absolutize_refs(asset, base_dir)
    if issues:
        raise ConfigError(issues)
    try:
        return Inventory(groups=groups, assets=assets)
    except ValidationError as exc:
        raise ConfigError(
            [ConfigIssue(doc.path, doc.line_of(("groups",)), "groups", e["msg"]) for e in exc.errors(include_url=False)]
        ) from None


def load_native(path: Path, options_models: dict[str, type[BaseModel]] | None = None) -> Inventory:
    doc = parse_yaml_file(path)
    inventory = inventory_from_document(doc)
    if options_models is not None:
        from opsagent.collectors.profiles import inline_option_issues

        if issues := inline_option_issues(doc, options_models):
            raise ConfigError(issues)
    return inventory
