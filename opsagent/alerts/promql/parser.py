"""A recursive-descent parser for the PromQL subset opsagent evaluates.

Supported (docs: README "Alert rules"): number and string literals; selectors with ``= != =~ !~``
matchers, ``[range]`` and ``offset``; arithmetic ``+ - * / % ^``, comparisons (with ``bool``), set
operators ``and or unless``, with ``on``/``ignoring`` and ``group_left``/``group_right``; aggregations
``by``/``without``; the functions in :data:`FUNCTIONS`. Anything else (subqueries, ``@``, unknown
functions) is a :class:`PromQLError` at load time, never a surprise at evaluation time.
Precedence follows Prometheus: ``^`` > unary minus > ``* / % atan2`` > ``+ -`` > comparisons >
``and unless`` > ``or``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from opsagent.alerts.promql.ast import (
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    Number,
    String,
    Unary,
    VectorMatching,
    VectorSelector,
    is_scalar,
)

# function -> argument kinds: v instant vector, m range vector, s scalar, ? optional scalar
FUNCTIONS: dict[str, str] = {
    "rate": "m",
    "irate": "m",
    "increase": "m",
    "delta": "m",
    "idelta": "m",
    "deriv": "m",
    "predict_linear": "ms",
    "changes": "m",
    "resets": "m",
    "avg_over_time": "m",
    "min_over_time": "m",
    "max_over_time": "m",
    "sum_over_time": "m",
    "count_over_time": "m",
    "last_over_time": "m",
    "stddev_over_time": "m",
    "stdvar_over_time": "m",
    "present_over_time": "m",
    "quantile_over_time": "sm",
    "absent": "v",
    "absent_over_time": "m",
    "abs": "v",
    "ceil": "v",
    "floor": "v",
    "round": "v?",
    "sqrt": "v",
    "exp": "v",
    "ln": "v",
    "log2": "v",
    "log10": "v",
    "clamp": "vss",
    "clamp_min": "vs",
    "clamp_max": "vs",
    "time": "",
    "vector": "s",
    "scalar": "v",
}
AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"}
)
PARAM_AGGREGATIONS = frozenset({"topk", "bottomk", "quantile"})
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
_PRECEDENCE = [
    frozenset({"or"}),
    frozenset({"and", "unless"}),
    COMPARISONS,
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%", "atan2"}),
]
_LEVEL = {op: level for level, ops in enumerate(_PRECEDENCE) for op in ops}
_DURATION_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION_MS = {u: round(v * 1000) for u, v in _DURATION_UNIT.items()}
_DURATION_SHAPE = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
_MAX_NANOS = 2**63 - 1  # Go's time.Duration: Prometheus refuses longer ranges and offsets
_MAX_INT = 2**63 - 1

_TOKEN = re.compile(
    r"""(?P<ws>\s+|\#[^\n]*)
    |(?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
    |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF]\b|[nN][aA][nN]\b)
    |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<op>=~|!~|==|!=|>=|<=|[-+*/%^<>=(){}\[\],@:])
    """,
    re.VERBOSE,
)


class PromQLError(ValueError):
    """Invalid or unsupported PromQL; ``pos`` is the character offset in the expression."""

    def __init__(self, message: str, pos: int = 0) -> None:
        self.pos = pos
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # duration number ident string op eof
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PromQLError(f"unexpected character {text[pos]!r} at position {pos}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens


def _unquote(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers --------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.tok.kind in ("op", "ident") and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            self.fail(f"expected {text!r}")
        return self.next()

    def fail(self, message: str, tok: Token | None = None) -> None:
        tok = tok or self.tok
        found = repr(tok.text) if tok.kind != "eof" else "end of expression"
        raise PromQLError(f"{message}, found {found} at position {tok.pos}", tok.pos)

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Expr:
        expr = self.binary()
        if self.tok.kind != "eof":
            self.fail("unexpected token")
        return expr

    def _binary_op(self) -> str | None:
        tok = self.tok
        if tok.kind in ("op", "ident") and tok.text.lower() in _LEVEL:
            return tok.text.lower()
        return None

    def binary(self) -> Expr:
        """Operands and operators by precedence with explicit stacks (left-associative): a chain of
        1,000 ``+`` costs no recursion."""
        operands: list[Expr] = [self.unary()]
        pending: list[tuple[str, bool, VectorMatching]] = []
        while (op := self._binary_op()) is not None:
            self.next()
            bool_modifier = self.accept("bool")
            if bool_modifier and op not in COMPARISONS:
                self.fail("bool modifier is only allowed on comparisons")
            matching = self.matching(op)
            while pending and _LEVEL[pending[-1][0]] >= _LEVEL[op]:
                self._reduce(operands, pending.pop())
            pending.append((op, bool_modifier, matching))
            operands.append(self.unary())
        while pending:
            self._reduce(operands, pending.pop())
        return operands[0]

    def _reduce(self, operands: list[Expr], op: tuple[str, bool, VectorMatching]) -> None:
        rhs = operands.pop()
        lhs = operands.pop()
        operands.append(self._check_binary(Binary(op[0], lhs, rhs, op[1], op[2])))

    def matching(self, op: str) -> VectorMatching:
        on = False
        labels: tuple[str, ...] = ()
        if self.accept("on"):
            on, labels = True, self.label_list()
        elif self.accept("ignoring"):
            labels = self.label_list()
        card: str = "one-to-one"
        include: tuple[str, ...] = ()
        for side in ("group_left", "group_right"):
            if self.accept(side):
                if op in SET_OPS:
                    self.fail(f"{side} is not allowed with set operator {op}")
                card = side
                include = self.label_list() if self.tok.text == "(" else ()
        if op in SET_OPS:
            card = "many-to-many"
        return VectorMatching(on=on, labels=labels, card=card, include=include)

    def _check_binary(self, node: Binary) -> Binary:
        scalar = (Number, String)
        if node.op in SET_OPS and (isinstance(node.lhs, scalar) or isinstance(node.rhs, scalar)):
            raise PromQLError(f"set operator {node.op} needs vectors on both sides", 0)
        if node.op in COMPARISONS and not node.bool_modifier and is_scalar(node.lhs) and is_scalar(node.rhs):
            raise PromQLError("comparisons between scalars must use the bool modifier", 0)
        return node

    def _signs(self) -> bool:
        """Consume leading unary ``-``/``+`` signs; whether they negate."""
        negate = False
        while self.tok.kind == "op" and self.tok.text in ("-", "+"):
            negate ^= self.next().text == "-"
        return negate

    def unary(self) -> Expr:
        # ^ binds tighter than unary minus: -2^2 == -(2^2)
        negate = self._signs()
        operand = self.power()
        return _negate(operand) if negate else operand

    def power(self) -> Expr:
        """``a ^ b ^ -c``: right-associative, each exponent with its own signs, folded without recursion."""
        bases: list[Expr] = [self.postfix()]
        links: list[tuple[VectorMatching, bool]] = []  # (matching, the exponent's signs negate)
        while self.tok.text == "^" and self.tok.kind == "op":
            self.next()
            matching = self.matching("^")
            links.append((matching, self._signs()))
            bases.append(self.postfix())
        result = bases.pop()
        while links:
            matching, negate = links.pop()
            if negate:
                result = _negate(result)
            result = Binary("^", bases.pop(), result, False, matching)
        return result

    def postfix(self) -> Expr:
        expr = self.primary()
        while True:
            if self.tok.text == "[":
                expr = self.range_of(expr)
            elif self.tok.kind == "ident" and self.tok.text == "offset":
                self.next()
                expr = self.offset_of(expr)
            elif self.tok.text == "@":
                self.fail("the @ modifier is not supported by opsagent's evaluator")
            else:
                return expr

    def range_of(self, expr: Expr) -> Expr:
        start = self.next()
        if not isinstance(expr, VectorSelector):
            self.fail("ranges are only allowed on plain selectors", start)
        assert isinstance(expr, VectorSelector)
        duration = self.duration()
        if self.tok.text.startswith(":"):
            self.fail("subqueries are not supported by opsagent's evaluator")
        self.expect("]")
        return MatrixSelector(expr, duration)

    def offset_of(self, expr: Expr) -> Expr:
        negative = self.accept("-")
        seconds = self.duration() * (-1 if negative else 1)
        if isinstance(expr, VectorSelector):
            return VectorSelector(expr.name, expr.matchers, seconds)
        if isinstance(expr, MatrixSelector):
            return MatrixSelector(VectorSelector(expr.vector.name, expr.vector.matchers, seconds), expr.range)
        self.fail("offset is only allowed on selectors")
        raise AssertionError

    def duration(self) -> float:
        """A duration as Prometheus takes one: units largest first, each once, above 0, within ~292 years."""
        tok = self.next()
        if tok.kind == "number" and re.fullmatch(r"\d+", tok.text):
            self.fail("missing unit character in duration", tok)
        if tok.kind != "duration":
            self.fail("expected a duration such as 5m", tok)
        if not _DURATION_SHAPE.fullmatch(tok.text):
            self.fail(f"not a valid duration string {tok.text!r}", tok)
        millis = sum(int(n) * _DURATION_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", tok.text))
        if millis * 1_000_000 > _MAX_NANOS:
            self.fail("duration out of range", tok)
        if millis == 0:
            self.fail("duration must be greater than 0", tok)
        return millis / 1000

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.next()
            return Number(_number(tok))
        if tok.kind == "duration":
            self.fail("a duration is only allowed in [range] and offset")
        if tok.kind == "string":
            self.next()
            return String(_unquote(tok.text))
        if tok.text == "(":
            self.next()
            expr = self.binary()
            self.expect(")")
            return expr
        if tok.text == "{":
            return self.selector(None)
        if tok.kind == "ident":
            return self.identifier()
        self.fail("expected an expression")
        raise AssertionError

    def identifier(self) -> Expr:
        tok = self.next()
        name = tok.text
        lower = name.lower()
        if lower in AGGREGATIONS and self.tok.text in ("(", "by", "without"):
            return self.aggregate(lower)
        if self.tok.text == "(":
            return self.call(name, tok)
        if lower in ("and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset"):
            self.fail("unexpected keyword", tok)
        return self.selector(name)

    def call(self, name: str, tok: Token) -> Expr:
        if name not in FUNCTIONS:
            self.fail(f"function {name}() is not supported by opsagent's evaluator", tok)
        self.expect("(")
        args: list[Expr] = []
        if self.tok.text != ")":
            args.append(self.binary())
            while self.accept(","):
                args.append(self.binary())
        self.expect(")")
        _check_args(name, args, tok.pos)
        return Call(name, tuple(args))

    def aggregate(self, op: str) -> Expr:
        grouping: tuple[str, ...] = ()
        without = False
        modifier_first = self.tok.text in ("by", "without")
        if modifier_first:
            without = self.next().text == "without"
            grouping = self.label_list()
        self.expect("(")
        param: Expr | None = None
        if op in PARAM_AGGREGATIONS:
            param = self.binary()
            self.expect(",")
        expr = self.binary()
        self.expect(")")
        if not modifier_first and self.tok.text in ("by", "without"):
            without = self.next().text == "without"
            grouping = self.label_list()
        if isinstance(expr, MatrixSelector) or is_scalar(expr):
            raise PromQLError(f"{op}() needs an instant vector", 0)
        return Aggregate(op, expr, grouping, without, param)

    def label_list(self) -> tuple[str, ...]:
        self.expect("(")
        labels: list[str] = []
        while self.tok.text != ")":
            tok = self.next()
            if tok.kind != "ident":
                self.fail("expected a label name", tok)
            labels.append(tok.text)
            if not self.accept(","):
                break
        self.expect(")")
        return tuple(labels)

    def selector(self, name: str | None) -> VectorSelector:  # noqa: C901 - one grammar rule
        matchers: list[tuple[str, str, str]] = []
        named = name is not None
        if self.accept("{"):
            while self.tok.text != "}":
                label = self.next()
                if label.kind != "ident":
                    self.fail("expected a label name", label)
                op = self.next()
                if op.text not in ("=", "!=", "=~", "!~"):
                    self.fail("expected a label matcher (=, !=, =~, !~)", op)
                value = self.next()
                if value.kind != "string":
                    self.fail("expected a quoted label value", value)
                text = _unquote(value.text)
                if op.text in ("=~", "!~"):
                    try:
                        re.compile(text)
                    except (re.error, OverflowError, RecursionError) as exc:
                        raise PromQLError(f"invalid regular expression {text!r}: {exc}", value.pos) from None
                if label.text == "__name__" and named:
                    raise PromQLError(f"metric name must not be set twice: {name!r} or {text!r}", label.pos)
                if label.text == "__name__" and op.text == "=" and name is None:
                    name = text
                else:
                    matchers.append((label.text, op.text, text))
                if not self.accept(","):
                    break
            self.expect("}")
        if name is None and not any(_matches_nonempty(m) for m in matchers):
            raise PromQLError("a selector needs a metric name or a matcher that does not match the empty string", 0)
        return VectorSelector(name, tuple(matchers))


def _number(tok: Token) -> float:
    """A number literal as Prometheus reads one (ParseInt, then ParseFloat): out-of-range is an error."""
    text = tok.text
    if text.lower().startswith("0x"):
        value = int(text, 16)
        if value > _MAX_INT:
            raise PromQLError(f"error parsing number {text!r} at position {tok.pos}: out of range", tok.pos)
        return float(value)
    number = float(text)
    if math.isinf(number) and "inf" not in text.lower():
        raise PromQLError(f"error parsing number {text!r} at position {tok.pos}: value out of range", tok.pos)
    return number


def _negate(expr: Expr) -> Expr:
    return Number(-expr.value) if isinstance(expr, Number) else Unary(expr)


def _matches_nonempty(matcher: tuple[str, str, str]) -> bool:
    _label, op, value = matcher
    if op == "=":
        return value != ""
    if op == "=~":
        return re.fullmatch(value, "") is None
    return False


def _check_args(name: str, args: list[Expr], pos: int) -> None:
    kinds = FUNCTIONS[name]
    full = kinds.replace("?", "s")  # "?" is an optional trailing scalar
    low, high = len(full) - kinds.count("?"), len(full)
    if not low <= len(args) <= high:
        wanted = str(high) if low == high else f"{low} to {high}"
        raise PromQLError(f"{name}() takes {wanted} argument(s), got {len(args)}", pos)
    for kind, arg in zip(full, args, strict=False):
        if kind == "m" and not isinstance(arg, MatrixSelector):
            raise PromQLError(f"{name}() needs a range vector such as metric[5m]", pos)
        if kind == "v" and isinstance(arg, MatrixSelector | String):
            raise PromQLError(f"{name}() needs an instant vector", pos)
        if kind == "s" and isinstance(arg, MatrixSelector | String):
            raise PromQLError(f"{name}() needs a scalar", pos)


def parse(text: str) -> Expr:
    """Parse ``text`` into a tree, raising :class:`PromQLError` for anything outside the subset."""
    if not text.strip():
        raise PromQLError("empty expression", 0)
    try:
        return _Parser(text).parse()
    except RecursionError:  # parentheses, calls or aggregations nested past the interpreter's stack
        raise PromQLError("expression nested too deeply", 0) from None
