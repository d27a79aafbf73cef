"""Per-rule flap detection settings (annotations, so the file still passes promtool) over the
alerting config's defaults: pure, on synthetic series."""

from __future__ import annotations

import pytest

from opsagent.alerts.notifyconfig import FlappingConfig
from opsagent.alerts.state import flap_config
from opsagent.errors import ConfigError
from tests.unit.test_alert_eval import rule, run

STORM = [95.0, 80.0] * 6 + [95.0] * 12
SITE = FlappingConfig(window=10, high_threshold=50, low_threshold=25)


def kinds_with(extra: str, base: FlappingConfig = SITE) -> list[str]:
    r = rule(extra, for_="0s")
    cfg = flap_config(base, r.flapping)  # type: ignore[attr-defined]
    _, kinds = run(r, STORM, cfg)
    return [k for ks in kinds for k in ks]


def test_rule_turns_flap_detection_off() -> None:
    assert "flapping_started" in kinds_with("")  # the site default catches the storm
    flat = kinds_with("          opsagent_flap_detection: 'false'\n")
    assert "flapping_started" not in flat and flat.count("fired") == 7  # every oscillation notifies


def test_rule_thresholds_override_the_site() -> None:
    # a rule that tolerates any rate of change (percent state change never exceeds 100)
    lenient = "          opsagent_flap_high_threshold: '100'\n          opsagent_flap_low_threshold: '95'\n"
    assert "flapping_started" not in kinds_with(lenient)
    # and a stricter one catches it even when the site has detection off
    strict = "          opsagent_flap_detection: 'true'\n          opsagent_flap_window: '6'\n"
    assert "flapping_started" in kinds_with(strict, FlappingConfig(enabled=False))


def test_overrides_keep_only_what_the_rule_sets() -> None:
    r = rule("          opsagent_flap_window: '30'\n")
    assert r.flapping == {"window": 30}  # type: ignore[attr-defined]
    merged = flap_config(SITE, r.flapping)  # type: ignore[attr-defined]
    assert (merged.window, merged.high_threshold, merged.low_threshold) == (30, 50, 25)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("          opsagent_flap_window: 'many'\n", "window"),
        ("          opsagent_flap_low_threshold: '70'\n", "low_threshold must be below high_threshold"),
        ("          opsagent_flap_detection: 'sometimes'\n", "enabled"),
    ],
)
def test_invalid_settings_are_load_errors(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        rule(extra)
    assert message in str(info.value) and "r.yaml:" in str(info.value)
