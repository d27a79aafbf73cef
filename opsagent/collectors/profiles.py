"""Collector profiles: content files ``collectors/<collector>/<profile>.yaml``.

A profile is a named set of options for one collector type (which filesystems to skip, which
SSH checks to run, which SNMP tables to walk…). An asset names a profile; its own ``options``
override the profile's, key by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import Document, parse_yaml_file, validate, validation_issues

DEFAULT_PROFILE = "default"


class ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    collector: str
    name: str
    description: str
    options: dict[str, Any]
    path: str


def load_profile(path: Path, options_models: dict[str, type[BaseModel]]) -> Profile:
    """Load one profile file; its directory names the collector type."""
    collector = path.parent.name
    doc = parse_yaml_file(path)
    body = validate(doc, ProfileFile)
    model = options_models.get(collector)
    if model is None:
        known = ", ".join(sorted(options_models)) or "none"
        raise ConfigError(
            [ConfigIssue(str(path), 1, "", f"unknown collector type {collector!r} (directory name; known: {known})")]
        )
    _check_options(doc, model, body.options)
    return Profile(collector, path.stem, body.description, body.options, str(path))


def _check_options(doc: Document, model: type[BaseModel], options: dict[str, Any]) -> None:
    try:
        model.model_validate(options)
    except ValidationError as exc:
        raise ConfigError(validation_issues(doc, exc, ("options",))) from None


def inline_option_issues(doc: Document, options_models: dict[str, type[BaseModel]]) -> list[ConfigIssue]:
    """Check the ``collectors: [{name, options}]`` an inventory file gives its assets and groups.

    They override a profile key by key, so only the keys written are checked (a required option may
    come from the profile): an unknown key, a wrong type or ``connect_timeout: soon`` is reported with
    its line, as ``opsagent check`` reports profiles."""
    data = doc.data if isinstance(doc.data, dict) else {}
    places: list[tuple[tuple[str | int, ...], Any]] = []
    for index, asset in enumerate(data.get("assets") or []):
        places.append((("assets", index), asset))
    for name, group in (data.get("groups") or {}).items():
        places.append((("groups", str(name)), group))
    issues: list[ConfigIssue] = []
    for loc, holder in places:
        specs = holder.get("collectors") if isinstance(holder, dict) else None
        for position, spec in enumerate(specs if isinstance(specs, list) else []):
            if not isinstance(spec, dict) or not isinstance(spec.get("options"), dict):
                continue
            model = options_models.get(str(spec.get("name")))
            if model is not None:
                issues += _written_option_issues(doc, model, spec["options"], (*loc, "collectors", position, "options"))
    return issues


def _written_option_issues(
    doc: Document, model: type[BaseModel], options: dict[str, Any], prefix: tuple[str | int, ...]
) -> list[ConfigIssue]:
    try:
        model.model_validate(options)
    except ValidationError as exc:
        wrong = [e for e in exc.errors(include_url=False) if e["type"] != "missing"]
        return [doc.issue((*prefix, *e["loc"]), e["msg"]) for e in wrong]
    return []


def profile_files(roots: list[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        base = root / "collectors"
        if base.is_dir():
            files += sorted(p for p in base.glob("*/*.y*ml") if p.suffix in (".yaml", ".yml"))
    return files


def load_profiles(roots: list[Path], options_models: dict[str, type[BaseModel]]) -> dict[tuple[str, str], Profile]:
    """Every profile under the roots; a later root overrides a same-named profile."""
    profiles: dict[tuple[str, str], Profile] = {}
    issues: list[ConfigIssue] = []
    for path in profile_files(roots):
        try:
            profile = load_profile(path, options_models)
        except ConfigError as exc:
            issues += exc.issues
            continue
        profiles[(profile.collector, profile.name)] = profile
    if issues:
        raise ConfigError(issues)
    return profiles


def merged_options(
    profiles: dict[tuple[str, str], Profile], collector: str, profile: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Profile options overridden by the asset's own. A named profile that does not exist is an error."""
    name = profile or DEFAULT_PROFILE
    found = profiles.get((collector, name))
    if found is None and profile is not None:
        raise KeyError(f"no profile {profile!r} for collector {collector!r}")
    return {**(found.options if found else {}), **options}
