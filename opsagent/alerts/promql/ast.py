"""The syntax tree of the PromQL subset opsagent evaluates (see ``parser.py`` for the grammar)."""

from __future__ import annotations

from dataclasses import dataclass, field

Matcher = tuple[str, str, str]  # (label, op, value); op one of = != =~ !~


@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class String:
    value: str


@dataclass(frozen=True, slots=True)
class VectorSelector:
    name: str | None
    matchers: tuple[Matcher, ...]
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    vector: VectorSelector
    range: float


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    op: str
    expr: Expr
    grouping: tuple[str, ...] = ()
    without: bool = False
    param: Expr | None = None


@dataclass(frozen=True, slots=True)
class VectorMatching:
    on: bool = False  # True: match on ``labels``; False: ignoring ``labels``
    labels: tuple[str, ...] = ()
    card: str = "one-to-one"  # or group_left / group_right
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    lhs: Expr
    rhs: Expr
    bool_modifier: bool = False
    matching: VectorMatching = field(default_factory=VectorMatching)


@dataclass(frozen=True, slots=True)
class Unary:
    expr: Expr


Expr = Number | String | VectorSelector | MatrixSelector | Call | Aggregate | Binary | Unary


def children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Binary):
        return (expr.lhs, expr.rhs)
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, Aggregate):
        return (expr.expr,) if expr.param is None else (expr.param, expr.expr)
    if isinstance(expr, Unary):
        return (expr.expr,)
    if isinstance(expr, MatrixSelector):
        return (expr.vector,)
    return ()


def walk(expr: Expr) -> list[Expr]:
    """Every node of the tree, without recursion (a 1,000-term ``a + b + …`` is 1,000 levels deep)."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(children(node))
    return out


def is_scalar(expr: Expr) -> bool:
    """Whether the expression returns a scalar: numbers, ``time()``/``scalar()`` and their arithmetic."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Binary):
            stack += (node.lhs, node.rhs)
        elif isinstance(node, Unary):
            stack.append(node.expr)
        elif not (isinstance(node, Number) or (isinstance(node, Call) and node.func in ("time", "scalar"))):
            return False
    return True
