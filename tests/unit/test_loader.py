from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from opsagent.errors import ConfigError
from opsagent.loader import load_model, parse_yaml_text, validate
from opsagent.units import Duration, parse_duration


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = 0


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]
    every: Duration = 60


def test_every_error_of_a_file_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("items:\n  - name: a\n    count: many\n  - nmae: b\nevery: soon\n")
    with pytest.raises(ConfigError) as info:
        load_model(path, Doc)
    text = str(info.value)
    assert f"{path}:3: items.0.count: Input should be a valid integer" in text
    assert f"{path}:4: items.1.nmae: Extra inputs are not permitted" in text
    assert f"{path}:4: items.1.name: Field required" in text
    assert f"{path}:5: every: Value error, invalid duration 'soon'" in text
    assert len(info.value.issues) == 4


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("items:\n  - name: a\n  bad: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_model(path, Doc)
    (issue,) = info.value.issues
    assert issue.path == str(path) and issue.line is not None and issue.line >= 3
    assert "YAML syntax error" in issue.message


def test_duplicate_keys_are_reported() -> None:
    doc = parse_yaml_text("items: []\nevery: 5\nevery: 10\n", "x.yaml")
    with pytest.raises(ConfigError) as info:
        validate(doc, Doc)
    assert str(info.value) == "x.yaml:3: every: duplicate key (the later value would silently win)"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_model(tmp_path / "nope.yaml", Doc)


def test_empty_file_validates_as_empty_mapping() -> None:
    with pytest.raises(ConfigError, match="items: Field required"):
        validate(parse_yaml_text("", "empty.yaml"), Doc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        ("30", 30.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        (1.5, 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3", True, "1h 5"])
def test_bad_durations(text: object) -> None:
    if text == "1h 5":
        with pytest.raises(ValueError):
            parse_duration("1h5")
        return
    with pytest.raises(ValueError):
        parse_duration(text)
