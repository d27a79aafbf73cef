"""``opsagent check`` for the desk's content folder: categories, routing rules, service contracts."""

from __future__ import annotations

from pathlib import Path

from opsagent.desk.content import CategoryFile, RoutingFile
from opsagent.desk.contracts import load_contracts
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import load_model
from opsagent.sla.policy import ServiceLevelPolicy, policy_path


def check_desk_file(path: Path) -> object:
    """Validate one file of ``desk/`` by its name; a contracts file is checked against the
    service-level policy of its own content root (its calendars and priorities)."""
    stem = path.stem
    if path.suffix == ".j2":
        return check_template(path)
    if stem == "categories":
        return load_model(path, CategoryFile)
    if stem == "routing":
        return load_model(path, RoutingFile)
    if stem == "contracts":
        root = path.resolve().parent.parent
        found = policy_path([root])
        policy = load_model(found, ServiceLevelPolicy) if found else ServiceLevelPolicy.model_validate(_MINIMAL)
        return load_contracts(path, policy)
    raise ConfigError([ConfigIssue(str(path), 1, "", "desk/ holds categories.yaml, routing.yaml and contracts.yaml")])


def check_template(path: Path) -> object:
    """A requester-facing mail template (desk/templates/KIND.LANG.txt.j2) compiles in the sandbox."""
    import jinja2

    from opsagent.desk.mailout import KINDS

    kind, _, rest = path.name.partition(".")
    if kind not in KINDS or rest.split(".")[0] not in ("zh", "en"):
        problem = f"templates are KIND.LANG.txt.j2: KIND one of {', '.join(KINDS)}, LANG zh or en"
        raise ConfigError([ConfigIssue(str(path), 1, "", problem)])
    try:
        source = path.read_text(encoding="utf-8")
        return jinja2.sandbox.SandboxedEnvironment().parse(source)
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(path), 1, "", "not UTF-8 text")]) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError([ConfigIssue(str(path), exc.lineno, "", exc.message or "template syntax error")]) from None


_TARGETS = {"calendar": "business", "internal": {"response": "1h", "resolution": "24h"},
            "external": {"response": "2h", "resolution": "48h"}}  # fmt: skip
_MINIMAL = {"targets": dict.fromkeys(("P1", "P2", "P3", "P4"), _TARGETS)}
