"""The `filter` expressions of `.conducto.cfg`: which events a section answers.

    {branch} == main && !({author} == bot || {branch} == "release/*")

Comparisons are `==` and `!=`; a literal on the right is an fnmatch glob (case-sensitive), a
`{variable}` on the right compares literally, so a value can never act as a pattern. `!` binds
tighter than `&&`, which binds tighter than `||`; parentheses group. An operand is a `{name}`,
a quoted string ('...' or "...", no escapes) or a bare word. The expression is parsed once, when
the file is read, so a malformed filter is reported before any event arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["Filter", "FilterError", "parse_filter"]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("==", "!=", "&&", "||", "(", ")", "!")


class FilterError(ValueError):
    """A filter expression that cannot be parsed; the cfg reader adds the file and line."""


@dataclass(frozen=True)
class _Token:
    kind: str  # an operator itself, or "var", "word"
    text: str
    pos: int


def _tokens(expr: str) -> list[_Token]:
    """Split a filter into operators, `{variables}` and words (bare or quoted)."""
    out: list[_Token] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        op = next((o for o in _OPERATORS if expr.startswith(o, i)), None)
        if op is not None:
            out.append(_Token(op, op, i))
            i += len(op)
        elif ch == "{":
            end = expr.find("}", i)
            name = expr[i + 1 : end] if end >= 0 else ""
            if not NAME.fullmatch(name):
                raise FilterError(f"expected a {{variable}} at column {i + 1}")
            out.append(_Token("var", name, i))
            i = end + 1
        elif ch in "'\"":
            end = expr.find(ch, i + 1)
            if end < 0:
                raise FilterError(f"unterminated quote at column {i + 1}")
            out.append(_Token("word", expr[i + 1 : end], i))
            i = end + 1
        else:
            start = i
            while i < len(expr) and not expr[i].isspace() and expr[i] not in "(){'\"":
                if expr.startswith(("==", "!=", "&&", "||"), i):
                    break
                if expr[i] == "[":  # a glob's [set] may hold ( ) ! and the like
                    close = expr.find("]", i + 2)
                    i = close if close >= 0 else i
                i += 1
            out.append(_Token("word", expr[start:i], start))
    return out


Predicate = Callable[[Mapping[str, str]], bool]


class _Parser:
    """Recursive descent: or := and ('||' and)*; and := not ('&&' not)*; not := '!' not | atom."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokens(expr)
        self.i = 0
        self.names: list[str] = []  # in order of appearance

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        tok = self.peek()
        if tok is None or tok.kind not in kinds:
            want = " or ".join(f"`{k}`" if k in _OPERATORS else f"a {k}" for k in kinds)
            found = f"`{tok.text}` at column {tok.pos + 1}" if tok else "the end"
            raise FilterError(f"expected {want}, found {found}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        if not self.tokens:
            raise FilterError("empty expression")
        pred = self.or_()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"unexpected `{tok.text}` at column {tok.pos + 1}")
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while (tok := self.peek()) and tok.kind == "||":
            self.i += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else lambda v: any(p(v) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while (tok := self.peek()) and tok.kind == "&&":
            self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else lambda v: all(p(v) for p in parts)

    def not_(self) -> Predicate:
        if (tok := self.peek()) and tok.kind == "!":
            self.i += 1
            inner = self.not_()
            return lambda v: not inner(v)
        if tok and tok.kind == "(":
            self.i += 1
            inner = self.or_()
            self.take(")")
            return inner
        return self.comparison()

    def operand(self) -> tuple[str, str]:
        tok = self.take("var", "word")
        if tok.kind == "var":
            self.names.append(tok.text)
        return tok.kind, tok.text

    def comparison(self) -> Predicate:
        left = self.operand()
        op = self.take("==", "!=").kind
        right = self.operand()

        def value(side: tuple[str, str], v: Mapping[str, str]) -> str:
            return v.get(side[1], "") if side[0] == "var" else side[1]

        def equal(v: Mapping[str, str]) -> bool:
            if right[0] == "var":
                return value(left, v) == value(right, v)
            return fnmatchcase(value(left, v), right[1])

        return equal if op == "==" else lambda v: not equal(v)


@dataclass(frozen=True)
class Filter:
    """A parsed filter: call `matches(variables)`; `names` are the variables it reads."""

    text: str
    names: frozenset[str]
    _predicate: Predicate

    def matches(self, variables: Mapping[str, str]) -> bool:
        """Whether an event with these variable values passes (unset names read as "")."""
        return self._predicate(variables)


def parse_filter(expr: str, known: Iterable[str] | None = None) -> Filter:
    """Parse `expr`; with `known`, any other `{variable}` is a FilterError."""
    parser = _Parser(expr)
    predicate = parser.parse()
    if known is not None:
        known = set(known)
        unknown = [n for n in parser.names if n not in known]
        if unknown:
            raise FilterError(f"unknown variable {{{unknown[0]}}}")
    return Filter(expr, frozenset(parser.names), predicate)
