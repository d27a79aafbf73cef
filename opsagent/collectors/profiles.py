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
