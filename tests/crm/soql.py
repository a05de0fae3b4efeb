"""A small, strict SOQL subset for the fake Salesforce, parsed the way the SOQL docs describe.

Grammar: ``SELECT field, Rel.field FROM Object [WHERE cond (AND cond)*] [LIMIT n]`` with
``cond := field (= | != | LIKE) literal`` and literals ``'string'``, ``true``, ``false``, ``null``
and numbers. String literals accept exactly the documented escapes (``\\n \\r \\t \\b \\f \\" \\'
\\\\ \\uXXXX``, and ``\\_ \\%`` inside LIKE only); any other backslash, or an unterminated
string, is a MALFORMED_QUERY, as in Salesforce. ``=`` and ``LIKE`` compare text
case-insensitively; ``%`` and ``_`` are LIKE's wildcards. So a quote in a value that the
adapter forgot to escape really does change (or break) the query here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class SoqlError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<unterminated>'.*)|(?P<op>!=|=|,|\(|\))"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))",
    re.S,
)
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "LIKE", "LIMIT", "TRUE", "FALSE", "NULL"}


@dataclass(frozen=True)
class Literal:
    raw: str | None  # the text between the quotes, escapes not yet decoded; None for non-strings
    value: Any = None

    def text(self) -> str:
        """The value of a string literal outside LIKE."""
        assert self.raw is not None
        return "".join(_decode(self.raw, like=False))

    def like_regex(self) -> re.Pattern[str]:
        assert self.raw is not None
        parts = []
        for piece in _decode(self.raw, like=True):
            if piece == "%":  # unescaped wildcard (escaped ones come back as "\\%")
                parts.append(".*")
            elif piece == "_":
                parts.append(".")
            else:
                parts.append(re.escape(piece[1:] if piece in ("\\%", "\\_") else piece))
        return re.compile("".join(parts), re.I | re.S)


def _decode(raw: str, *, like: bool) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(raw):
            raise SoqlError("MALFORMED_QUERY", "unterminated escape sequence")
        n = raw[i + 1]
        if n.lower() in _SIMPLE_ESCAPES or n in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES.get(n.lower(), _SIMPLE_ESCAPES.get(n, n)))
            i += 2
        elif n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
        elif n in "%_" and like:
            out.append("\\" + n)
            i += 2
        else:
            raise SoqlError("MALFORMED_QUERY", f"Invalid string literal: backslash followed by {n!r}")
    return out


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "=", "!=", "LIKE"
    literal: Literal


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: list[Condition] = field(default_factory=list)
    limit: int | None = None


def tokenize(soql: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(soql):
        if soql[pos:].strip() == "":
            break
        match = _TOKEN.match(soql, pos)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at {soql[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        if kind == "unterminated":
            raise SoqlError("MALFORMED_QUERY", "unterminated string literal")
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def parse(soql: str) -> Query:
    tokens = tokenize(soql)
    i = 0

    def peek() -> tuple[str, str]:
        return tokens[i] if i < len(tokens) else ("end", "")

    def take(kind: str | None = None, word: str | None = None) -> str:
        nonlocal i
        k, v = peek()
        if (kind and k != kind) or (word and v.upper() != word):
            raise SoqlError("MALFORMED_QUERY", f"expected {word or kind}, found {v or 'end of query'!r}")
        i += 1
        return v

    take("word", "SELECT")
    fields = [take("word")]
    while peek() == ("op", ","):
        take("op")
        fields.append(take("word"))
    take("word", "FROM")
    query = Query(fields=fields, sobject=take("word"))
    if peek()[1].upper() == "WHERE":
        take("word")
        query.where.append(_condition(take, peek))
        while peek()[1].upper() == "AND":
            take("word")
            query.where.append(_condition(take, peek))
    if peek()[1].upper() == "LIMIT":
        take("word")
        query.limit = int(take("number"))
    if peek()[0] != "end":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token {peek()[1]!r}")
    for name in fields:
        if name.upper() in KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected keyword {name}")
    return query


def _condition(take, peek) -> Condition:
    name = take("word")
    kind, value = peek()
    if value.upper() == "LIKE":
        take("word")
        op = "LIKE"
    elif kind == "op" and value in ("=", "!="):
        op = take("op")
    else:
        raise SoqlError("MALFORMED_QUERY", f"expected an operator after {name}, found {value!r}")
    kind, value = peek()
    if kind == "string":
        take("string")
        literal = Literal(raw=value[1:-1])
        if op != "LIKE":
            literal.text()  # a LIKE-only escape outside LIKE is an error, as in Salesforce
    elif kind == "number":
        take("number")
        literal = Literal(None, float(value))
    elif kind == "word" and value.upper() in ("TRUE", "FALSE", "NULL"):
        take("word")
        literal = Literal(None, {"TRUE": True, "FALSE": False, "NULL": None}[value.upper()])
    else:
        raise SoqlError("MALFORMED_QUERY", f"expected a value after {name} {op}, found {value!r}")
    if op == "LIKE" and literal.raw is None:
        raise SoqlError("MALFORMED_QUERY", "LIKE needs a string")
    return Condition(name, op, literal)


def get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def matches(record: dict[str, Any], condition: Condition) -> bool:
    value = get(record, condition.field)
    literal = condition.literal
    if condition.op == "LIKE":
        return isinstance(value, str) and literal.like_regex().fullmatch(value) is not None
    if literal.raw is not None:
        equal = isinstance(value, str) and value.lower() == literal.text().lower()
    else:
        equal = value == literal.value
    return equal if condition.op == "=" else not equal
