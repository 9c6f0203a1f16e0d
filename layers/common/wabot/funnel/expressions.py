"""Templates (`Hello {name}`) and the small arithmetic of `set` nodes, without I/O or `eval`.

Expressions are parsed with Python's own parser and then only a whitelist of node types is
evaluated: numbers, strings, variables (dotted names), + - * / // %, comparisons, `and`/`or`/
`not`, `x if c else y`, lists, and the functions in FUNCTIONS. Numbers are capped and strings
bounded, so no expression can run long or grow without limit.
"""

from __future__ import annotations

import ast
import math
import re
import string
from collections.abc import Callable
from typing import Any

MAX_NUMBER = 10**15
MAX_STRING = 4096
MAX_EXPRESSION = 500
MAX_PATTERN = 200
MAX_SUBJECT = 1000
# A group with a quantifier inside, itself quantified: the shape of catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)[*+{?]")
_FORMATTER = string.Formatter()


class ExpressionError(ValueError):
    pass


def normalize_word(text: str) -> str:
    """Lower case without surrounding spaces and punctuation: "  Hello! " -> "hello"."""
    return text.strip().lower().strip(string.punctuation + "!?.,¡¿…«» ").strip()


def check_pattern(pattern: str) -> None:
    """A tenant's regular expression: compiles, is short, and has no nested quantifiers."""
    if len(pattern) > MAX_PATTERN:
        raise ExpressionError(f"a pattern has at most {MAX_PATTERN} characters")
    if _NESTED_QUANTIFIER.search(pattern):
        raise ExpressionError("nested quantifiers such as (a+)+ are not allowed")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ExpressionError(f"invalid pattern: {exc}") from None


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(to_text(item) for item in value)
    return str(value)


# ---- templates ---------------------------------------------------------------------------------


def template_fields(template: str) -> list[str]:
    """The variable names a template reads; ExpressionError when its braces are malformed."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ExpressionError(f"malformed template: {exc}") from None
    names = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or spec or conversion or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", field):
            raise ExpressionError(f"malformed placeholder {{{field}}}: write {{name}} or {{answers.budget}}")
        names.append(field)
    return names


def render(template: str, resolve: Callable[[str], Any]) -> str:
    """Placeholders replaced by their values; a missing value renders as empty."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        return template
    parts = []
    for literal, field, _, _ in parsed:
        parts.append(literal)
        if field:
            parts.append(to_text(resolve(field)))
    return "".join(parts)


# ---- functions ---------------------------------------------------------------------------------


def first_number(text: Any, default: Any = None) -> Any:
    """The first number in a text ("250 people" -> 250; spaces inside allowed: "10 000")."""
    if isinstance(text, bool):
        return default
    if isinstance(text, int | float):
        return text
    found = re.search(r"\d[\d\s]*(?:[.,]\d+)?", to_text(text)[:MAX_SUBJECT])
    if not found:
        return default
    digits = re.sub(r"\s", "", found.group()).replace(",", ".")
    value = float(digits)
    return int(value) if value.is_integer() else value


def _count_items(text: Any, *excluded: Any) -> int:
    """How many items a list written as text has (split on , ; and new lines), leaving out the
    given words ("none", "no")."""
    skip = {to_text(word).lower() for word in excluded}
    parts = (part.strip() for part in re.split(r"[,;\n]", to_text(text)[:MAX_SUBJECT]))
    return sum(1 for part in parts if part and normalize_word(part) not in skip)


def _matches(text: Any, pattern: Any) -> bool:
    check_pattern(to_text(pattern))
    return re.search(to_text(pattern), to_text(text)[:MAX_SUBJECT], re.IGNORECASE) is not None


def _thousands(value: Any) -> str:
    """12345 -> "12 345"."""
    number = first_number(value, 0)
    return f"{number:,}".replace(",", " ")


def _join(separator: Any, *values: Any) -> str:
    """The non-empty values joined (lists as "a, b")."""
    return to_text(separator).join(text for text in map(to_text, values) if text)


def _cap(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
            raise ExpressionError("number out of range")
        return value
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ExpressionError("text too long")
    return value


def _numeric(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        converted = first_number(value)
        if converted is None:
            raise ExpressionError("not a number")
        return converted
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "number": first_number,
    "count_items": _count_items,
    "matches": _matches,
    "thousands": _thousands,
    "join": _join,
    "ceil": lambda x: math.ceil(_numeric(x)),
    "floor": lambda x: math.floor(_numeric(x)),
    "round": lambda x, digits=0: round(_numeric(x), int(_numeric(digits))),
    "min": lambda *xs: min(_numeric(x) for x in xs),
    "max": lambda *xs: max(_numeric(x) for x in xs),
    "len": lambda x: len(x) if isinstance(x, list | str) else len(to_text(x)),
    "lower": lambda x: to_text(x).lower(),
    "upper": lambda x: to_text(x).upper(),
    "text": to_text,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


# ---- expressions -------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _call_problem(node: ast.Call) -> str | None:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
        return f"unknown function; use one of {', '.join(sorted(FUNCTIONS))}"
    return None


def _binop_problem(node: ast.BinOp) -> str | None:
    return None if type(node.op) in _ARITHMETIC else "only + - * / // % are allowed"


def _compare_problem(node: ast.Compare) -> str | None:
    return None if all(type(op) in _COMPARE for op in node.ops) else "unsupported comparison"


def _constant_problem(node: ast.Constant) -> str | None:
    return None if isinstance(node.value, int | float | str | bool | type(None)) else "unsupported constant"


def _attribute_problem(node: ast.Attribute) -> str | None:
    return None if _dotted(node) is not None else "attributes are only variable names: answers.budget"


def _unary_problem(node: ast.UnaryOp) -> str | None:
    return None if isinstance(node.op, ast.USub | ast.UAdd | ast.Not) else "unsupported operator"


# The syntax an expression may use; those with a further rule have it in _NODE_PROBLEMS.
_ALLOWED_NODES = (ast.Expression, ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Constant,
                  ast.Name, ast.Attribute, ast.List, ast.Tuple, ast.Load, ast.operator, ast.unaryop, ast.boolop,
                  ast.cmpop)
_NODE_PROBLEMS: dict[type, Callable[[Any], str | None]] = {
    ast.Call: _call_problem, ast.BinOp: _binop_problem, ast.Compare: _compare_problem,
    ast.Constant: _constant_problem, ast.Attribute: _attribute_problem, ast.UnaryOp: _unary_problem,
}


def _node_problem(node: ast.AST) -> str | None:
    if not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__} is not allowed in an expression"
    check = _NODE_PROBLEMS.get(type(node))
    return check(node) if check else None


def parse_expression(source: str) -> ast.Expression:
    """The parsed expression, checked against the whitelist; ExpressionError names the problem."""
    if len(source) > MAX_EXPRESSION:
        raise ExpressionError(f"an expression has at most {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is too deeply nested") from None
    for node in ast.walk(tree):
        problem = _node_problem(node)
        if problem:
            raise ExpressionError(problem)
    return tree


def expression_names(source: str) -> list[str]:
    """The variables an expression reads (dotted names whole, function names left out)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            for argument in node.args:
                visit(argument)
        elif isinstance(node, ast.Name | ast.Attribute):
            names.append(_dotted(node) or "")
        else:
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(parse_expression(source).body)
    return names


def evaluate(source: str, resolve: Callable[[str], Any]) -> Any:
    """The expression's value; ExpressionError (never anything else) when it cannot be computed."""
    tree = parse_expression(source)
    try:
        return _cap(_eval(tree.body, resolve))
    except ExpressionError:
        raise
    except (ArithmeticError, TypeError, ValueError, re.error, RecursionError) as exc:
        raise ExpressionError(f"cannot compute: {type(exc).__name__}") from None


Resolve = Callable[[str], Any]


def _eval_constant(node: ast.Constant, resolve: Resolve) -> Any:
    return node.value


def _eval_name(node: ast.Name | ast.Attribute, resolve: Resolve) -> Any:
    return resolve(_dotted(node) or "")


def _eval_list(node: ast.List | ast.Tuple, resolve: Resolve) -> Any:
    return [_eval(item, resolve) for item in node.elts]


def _eval_unary(node: ast.UnaryOp, resolve: Resolve) -> Any:
    operand = _eval(node.operand, resolve)
    if isinstance(node.op, ast.Not):
        return not operand
    value = _numeric(operand)
    return -value if isinstance(node.op, ast.USub) else value


def _eval_boolean(node: ast.BoolOp, resolve: Resolve) -> Any:
    value: Any = None
    for item in node.values:
        value = _eval(item, resolve)
        if (isinstance(node.op, ast.And) and not value) or (isinstance(node.op, ast.Or) and value):
            return value
    return value


def _eval_if(node: ast.IfExp, resolve: Resolve) -> Any:
    return _eval(node.body if _eval(node.test, resolve) else node.orelse, resolve)


def _eval_compare(node: ast.Compare, resolve: Resolve) -> Any:
    left = _eval(node.left, resolve)
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _eval(right_node, resolve)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _eval_arithmetic(node: ast.BinOp, resolve: Resolve) -> Any:
    left, right = _eval(node.left, resolve), _eval(node.right, resolve)
    if isinstance(node.op, ast.Add) and (isinstance(left, str) or isinstance(right, str)):
        return _cap(to_text(left) + to_text(right))
    return _cap(_ARITHMETIC[type(node.op)](_numeric(left), _numeric(right)))


def _eval_call(node: ast.Call, resolve: Resolve) -> Any:
    assert isinstance(node.func, ast.Name)  # parse_expression allows only calls of FUNCTIONS by name
    return _cap(FUNCTIONS[node.func.id](*(_eval(arg, resolve) for arg in node.args)))


# How each node type parse_expression lets through is computed.
_EVALUATORS: dict[type, Callable[[Any, Resolve], Any]] = {
    ast.Constant: _eval_constant, ast.Name: _eval_name, ast.Attribute: _eval_name, ast.List: _eval_list,
    ast.Tuple: _eval_list, ast.UnaryOp: _eval_unary, ast.BoolOp: _eval_boolean, ast.IfExp: _eval_if,
    ast.Compare: _eval_compare, ast.BinOp: _eval_arithmetic, ast.Call: _eval_call,
}


def _eval(node: ast.AST, resolve: Resolve) -> Any:
    evaluator = _EVALUATORS.get(type(node))
    if evaluator is None:
        raise ExpressionError(f"{type(node).__name__} is not allowed")
    return evaluator(node, resolve)
