# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A TOML reader and writer for gitlab-runner's ``config.toml``, with no dependency.

Python's ``tomllib`` (3.11+) only reads, and hosts with Python 3.9/3.10 may have no TOML
library at all. This module reads TOML 1.0 documents of the kind gitlab-runner and people
write (tables, arrays of tables, dotted and quoted keys, every string form, integers,
floats, booleans, arrays, inline tables, date-times) into plain ``dict``/``list`` values,
and writes them back the way gitlab-runner does (nested tables indented by two spaces).

Date-times are kept as :class:`TomlDateTime`, a ``str`` holding the original text, so
``token_obtained_at = 2024-05-01T10:00:00Z`` is written back exactly as it was read.
Comments are not kept (gitlab-runner drops them too when it rewrites the file).
"""

from __future__ import annotations

import math
import re
import typing as t

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_BARE_KEY_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?)?(?![\d:])"
    r"|\d{2}:\d{2}:\d{2}(?:\.\d+)?")
_NUMBER = re.compile(
    r"[+-]?(?:inf|nan)"
    r"|0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*"
    r"|[+-]?(?:0|[1-9](?:_?\d)*)(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE_OUT = {value: "\\" + key for key, value in _ESCAPES.items()}


class TomlError(ValueError):
    """The text is not TOML this module can read; the message names the line."""


class TomlDateTime(str):
    """A TOML date, time or date-time, kept as its text."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text.replace("\r\n", "\n")
        self.pos = 0
        self.root: t.Dict[str, t.Any] = {}
        self.defined: t.Set[int] = set()  # ids of tables given by a [header] or dotted keys

    # -- helpers -------------------------------------------------------------
    def error(self, message: str) -> TomlError:
        line = self.text.count("\n", 0, self.pos) + 1
        return TomlError("line %d: %s" % (line, message))

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos:self.pos + count]

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays and between statements)."""
        while True:
            char = self.peek()
            if char in (" ", "\t", "\n"):
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    def skip_comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def end_of_line(self) -> None:
        self.skip_space()
        if self.peek() == "#":
            self.skip_comment()
        if self.peek() not in ("\n", ""):
            raise self.error("unexpected %r after a value" % self.peek())

    def expect(self, token: str) -> None:
        if self.peek(len(token)) != token:
            raise self.error("expected %r, found %r" % (token, self.peek() or "end of file"))
        self.pos += len(token)

    # -- document ------------------------------------------------------------
    def parse(self) -> t.Dict[str, t.Any]:
        table = self.root
        while True:
            self.skip_blank()
            if not self.peek():
                return self.root
            if self.peek(2) == "[[":
                self.pos += 2
                table = self.array_table(self.key())
                self.expect("]]")
            elif self.peek() == "[":
                self.pos += 1
                table = self.table(self.key())
                self.expect("]")
            else:
                self.pair(table)
            self.end_of_line()

    def descend(self, table: t.Dict[str, t.Any], part: str) -> t.Dict[str, t.Any]:
        value = table.setdefault(part, {})
        if isinstance(value, list) and value and isinstance(value[-1], dict):
            return value[-1]
        if not isinstance(value, dict):
            raise self.error("%r is already a value, not a table" % part)
        return value

    def table(self, parts: t.List[str]) -> t.Dict[str, t.Any]:
        parent = self.root
        for part in parts[:-1]:
            parent = self.descend(parent, part)
        if parts[-1] in parent and not isinstance(parent[parts[-1]], dict):
            raise self.error("table [%s] is already a value" % ".".join(parts))
        table = parent.setdefault(parts[-1], {})
        if id(table) in self.defined:
            raise self.error("table [%s] is defined twice" % ".".join(parts))
        self.defined.add(id(table))
        return table

    def array_table(self, parts: t.List[str]) -> t.Dict[str, t.Any]:
        parent = self.root
        for part in parts[:-1]:
            parent = self.descend(parent, part)
        array = parent.setdefault(parts[-1], [])
        if not isinstance(array, list):
            raise self.error("[[%s]] names something that is not an array of tables" % ".".join(parts))
        table: t.Dict[str, t.Any] = {}
        array.append(table)
        self.defined.add(id(table))
        return table

    def pair(self, table: t.Dict[str, t.Any]) -> None:
        parts = self.key()
        self.skip_space()
        self.expect("=")
        self.skip_space()
        value = self.value()
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise self.error("dotted key %r runs into a value" % ".".join(parts))
        if parts[-1] in table:
            raise self.error("key %r is defined twice" % ".".join(parts))
        table[parts[-1]] = value

    # -- keys and values -----------------------------------------------------
    def key(self) -> t.List[str]:
        parts = []
        while True:
            self.skip_space()
            char = self.peek()
            if char == '"':
                parts.append(self.basic_string())
            elif char == "'":
                parts.append(self.literal_string())
            else:
                match = _BARE_KEY_CHARS.match(self.text, self.pos)
                if not match:
                    raise self.error("expected a key, found %r" % (char or "end of file"))
                parts.append(match.group())
                self.pos = match.end()
            self.skip_space()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def value(self) -> t.Any:
        char = self.peek()
        if self.peek(3) == '"""':
            return self.multiline_basic_string()
        if self.peek(3) == "'''":
            return self.multiline_literal_string()
        if char == '"':
            return self.basic_string()
        if char == "'":
            return self.literal_string()
        if char == "[":
            return self.array()
        if char == "{":
            return self.inline_table()
        for word, result in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        return self.scalar()

    def scalar(self) -> t.Any:
        match = _DATETIME.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return TomlDateTime(match.group())
        match = _NUMBER.match(self.text, self.pos)
        if not match or not match.group():
            raise self.error("expected a value, found %r" % (self.peek() or "end of file"))
        self.pos = match.end()
        return _number(match.group())

    def array(self) -> t.List[t.Any]:
        self.expect("[")
        items = []
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value())
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.error("expected ',' or ']' in an array, found %r" % (self.peek() or "end of file"))

    def inline_table(self) -> t.Dict[str, t.Any]:
        self.expect("{")
        table: t.Dict[str, t.Any] = {}
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return table
        while True:
            self.pair(table)
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                return table
            self.expect(",")

    def basic_string(self) -> str:
        self.expect('"')
        out = []
        while True:
            char = self.peek()
            if char in ("", "\n"):
                raise self.error("unterminated string")
            self.pos += 1
            if char == '"':
                return "".join(out)
            out.append(self.escape() if char == "\\" else char)

    def escape(self) -> str:
        char = self.peek()
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char in ("u", "U"):
            size = 4 if char == "u" else 8
            digits = self.peek(size)
            if not re.match(r"[0-9A-Fa-f]{%d}\Z" % size, digits):
                raise self.error("bad unicode escape \\%s%s" % (char, digits))
            self.pos += size
            return chr(int(digits, 16))
        raise self.error("unknown escape \\%s" % char)

    def literal_string(self) -> str:
        self.expect("'")
        end = self.text.find("'", self.pos)
        newline = self.text.find("\n", self.pos)
        if end < 0 or 0 <= newline < end:
            raise self.error("unterminated literal string")
        value, self.pos = self.text[self.pos:end], end + 1
        return value

    def multiline_literal_string(self) -> str:
        self.expect("'''")
        if self.peek() == "\n":
            self.pos += 1
        end = self.text.find("'''", self.pos)
        if end < 0:
            raise self.error("unterminated multi-line literal string")
        for _extra in range(2):  # up to two quotes may sit right before the closing delimiter
            if self.text[end + 3:end + 4] == "'":
                end += 1
        value, self.pos = self.text[self.pos:end], end + 3
        return value

    def multiline_basic_string(self) -> str:
        self.expect('"""')
        if self.peek() == "\n":
            self.pos += 1
        out = []
        while True:
            if self.peek(3) == '"""' and self.peek(4) != '""""':
                self.pos += 3
                return "".join(out)
            char = self.peek()
            if not char:
                raise self.error("unterminated multi-line string")
            self.pos += 1
            if char != "\\":
                out.append(char)
            elif re.match(r"[ \t]*\n", self.text[self.pos:]):
                while self.peek() in (" ", "\t", "\n"):  # line-ending backslash trims whitespace
                    self.pos += 1
            else:
                out.append(self.escape())


def _number(text: str) -> t.Union[int, float]:
    plain = text.replace("_", "")
    if plain[:2] in ("0x", "0o", "0b"):
        return int(plain, 0)
    if plain.lstrip("+-") in ("inf", "nan") or any(char in plain for char in ".eE"):
        return float(plain)
    return int(plain)


def loads(text: str) -> t.Dict[str, t.Any]:
    """Read a TOML document; raises :class:`TomlError` naming the line of a mistake."""
    return _Parser(text).parse()


# -- writing -----------------------------------------------------------------
def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else _basic(key)


def _basic(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPE_OUT:
            out.append(_ESCAPE_OUT[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\u%04x" % ord(char))
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def _string(text: str) -> str:
    readable = ("\n" in text and "'''" not in text and not text.endswith("'")
                and not re.search(r"[\x00-\x08\x0b-\x1f\x7f\r]", text))
    return "'''\n%s'''" % text if readable else _basic(text)


def dump_value(value: t.Any) -> str:
    """One value as TOML text (arrays and tables inline)."""
    if isinstance(value, TomlDateTime):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(char in text for char in ".en") else text + ".0"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s = %s" % (_key(k), dump_value(v)) for k, v in value.items()) if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(dump_value(item) for item in value)
    raise TypeError("cannot write %r (%s) as TOML" % (value, type(value).__name__))


def _is_table_array(value: t.Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _write_table(lines: t.List[str], table: t.Dict[str, t.Any], path: t.List[str]) -> None:
    indent = "  " * len(path)
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            lines.append("%s%s = %s" % (indent, _key(key), dump_value(value)))
    for key, value in table.items():
        child = path + [key]
        header = ".".join(_key(part) for part in child)
        child_indent = "  " * (len(child) - 1)
        if isinstance(value, dict):
            _header(lines, child, "%s[%s]" % (child_indent, header))
            _write_table(lines, value, child)
        elif _is_table_array(value):
            for item in value:
                _header(lines, child, "%s[[%s]]" % (child_indent, header))
                _write_table(lines, item, child)


def _header(lines: t.List[str], path: t.List[str], text: str) -> None:
    if len(path) == 1 and lines:
        lines.append("")
    lines.append(text)


def dumps(document: t.Dict[str, t.Any]) -> str:
    """Write a document the way gitlab-runner formats config.toml."""
    lines: t.List[str] = []
    _write_table(lines, document, [])
    return "\n".join(lines) + "\n" if lines else ""
