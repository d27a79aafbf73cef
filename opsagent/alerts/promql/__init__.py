"""The PromQL subset opsagent evaluates over its own samples: parser, tree and evaluator."""

from opsagent.alerts.promql.engine import Element, EvalError, Evaluator, Vector
from opsagent.alerts.promql.parser import FUNCTIONS, PromQLError, parse

__all__ = ["FUNCTIONS", "Element", "EvalError", "Evaluator", "PromQLError", "Vector", "parse"]
