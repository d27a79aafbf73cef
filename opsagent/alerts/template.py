"""The Go-template subset Prometheus rule annotations use, so one rule file renders alike in both.

Supported actions: ``{{ $labels.NAME }}``, ``{{ .Labels.NAME }}``, ``{{ $value }}``, ``{{ .Value }}``,
``{{ $externalLabels.NAME }}``, string/number literals, pipelines into ``printf "FMT"``, ``humanize``,
``humanize1024``, ``humanizePercentage``, ``humanizeDuration``, ``toUpper``, ``toLower``, ``title``,
and comments ``{{/* … */}}``. Anything else is an error when the rule file is loaded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_TERM = re.compile(
    r"""^(?:\$labels\.(?P<l1>\w+)|\.Labels\.(?P<l2>\w+)|\$externalLabels\.(?P<ext>\w+)
    |(?P<value>\$value|\.Value)|"(?P<str>(?:[^"\\]|\\.)*)"|(?P<num>-?\d+(?:\.\d+)?))$""",
    re.VERBOSE,
)
_CALL = re.compile(r'^(?P<func>\w+)(?:\s+(?P<arg>"(?:[^"\\]|\\.)*"|\$\w+|-?\d+(?:\.\d+)?))?$')


class TemplateError(ValueError):
    pass


def _humanize(v: float, base: float = 1000.0) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    big = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"] if base == 1000.0 else ["", "ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    small = ["", "m", "u", "n", "p", "f", "a", "z", "y"]
    i = 0
    if abs(v) >= 1:
        while abs(v) >= base and i < len(big) - 1:
            v /= base
            i += 1
        return f"{v:.4g}{big[i]}"
    while abs(v) < 1 and i < len(small) - 1 and base == 1000.0:
        v *= 1000
        i += 1
    return f"{v:.4g}{small[i]}"


def _duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v < 1:
        return f"{sign}{_humanize(v)}s"
    days, rest = divmod(int(v), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    parts.append(f"{seconds}s")
    return sign + " ".join(parts)


def _printf(fmt: str, value: object) -> str:
    # Go verbs map onto Python's % formatting for the cases rules use (%.1f, %d, %s, %v, %g).
    py = re.sub(r"%v", "%s", fmt)
    try:
        if re.search(r"%[-+ 0#]*\d*(?:\.\d+)?d", py) and isinstance(value, float):
            value = int(value)
        return py % (value,)
    except (TypeError, ValueError):
        return f"%!({fmt}={value})"


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


FUNCS: dict[str, Callable[[object], str]] = {
    "humanize": lambda v: _humanize(_as_float(v)),
    "humanize1024": lambda v: _humanize(_as_float(v), 1024.0),
    "humanizePercentage": lambda v: f"{_humanize(_as_float(v) * 100)}%",
    "humanizeDuration": lambda v: _duration(_as_float(v)),
    "toUpper": lambda v: str(v).upper(),
    "toLower": lambda v: str(v).lower(),
    "title": lambda v: str(v).title(),
}


@dataclass(frozen=True)
class _Step:
    func: str
    arg: str | None


def _unq(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


class Template:
    """A parsed template; :meth:`render` never raises."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts: list[str | tuple[re.Match[str], list[_Step]]] = []
        pos = 0
        for m in _ACTION.finditer(text):
            self.parts.append(text[pos : m.start()])
            pos = m.end()
            body = m.group(1)
            if body.startswith("/*") and body.endswith("*/"):
                continue
            self.parts.append(self._action(body))
        self.parts.append(text[pos:])
        if "{{" in "".join(p for p in self.parts if isinstance(p, str)):
            raise TemplateError(f"unclosed or malformed action in {text!r}")

    @classmethod
    def literal(cls, text: str) -> Template:
        """A template that renders ``text`` as it is (recording rules' labels are not templated)."""
        template = cls("")
        template.text, template.parts = text, [text]
        return template

    @staticmethod
    def _action(body: str) -> tuple[re.Match[str], list[_Step]]:
        pieces = [p.strip() for p in body.split("|")]
        term = _TERM.match(pieces[0])
        if term is None:
            raise TemplateError(
                f"unsupported template action {{{{ {body} }}}} (opsagent supports $labels, $value, pipes)"
            )
        steps: list[_Step] = []
        for piece in pieces[1:]:
            call = _CALL.match(piece)
            if call is None or (call.group("func") not in FUNCS and call.group("func") != "printf"):
                raise TemplateError(f"unsupported template function in {{{{ {body} }}}}")
            arg = call.group("arg")
            if call.group("func") == "printf" and (arg is None or not arg.startswith('"')):
                raise TemplateError(f"printf needs a quoted format in {{{{ {body} }}}}")
            steps.append(_Step(call.group("func"), _unq(arg[1:-1]) if arg and arg.startswith('"') else arg))
        return term, steps

    def render(self, labels: Mapping[str, str], value: float, external: Mapping[str, str] | None = None) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            term, steps = part
            current: object
            if term.group("l1") or term.group("l2"):
                current = labels.get(term.group("l1") or term.group("l2"), "")
            elif term.group("ext"):
                current = (external or {}).get(term.group("ext"), "")
            elif term.group("value"):
                current = value
            elif term.group("str") is not None:
                current = _unq(term.group("str"))
            else:
                current = float(term.group("num"))
            for step in steps:
                current = _printf(step.arg or "", current) if step.func == "printf" else FUNCS[step.func](current)
            out.append(_go_str(current))
        return "".join(out)


def _go_str(value: object) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def render(text: str, labels: Mapping[str, str], value: float) -> str:
    return Template(text).render(labels, value)
