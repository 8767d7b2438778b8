"""Policy text (HCL or JSON) -> positioned path blocks, before any policy semantics.

Contract: `read_blocks(text)` returns the `path` blocks of a policy in source
order, each with the 1-based line and column of its label, of every key and of
every value, so that `parse.py` can report *where* a semantic problem is. It
raises `SyntaxProblem(line, column, message)` for text that is not well-formed,
or that uses a construct a policy has no use for (any top-level key or block
other than `path`, interpolation, expressions).

Form detection is Vault's: text whose first non-blank character is `{` is JSON,
anything else is HCL.

- HCL is parsed by python-hcl2 (a maintained PyPI parser built on Lark); we walk
  its raw Lark parse tree (`hcl2.parses_to_tree`) rather than its dict output,
  because the tree keeps positions and keeps repeated `path` blocks. The rule
  names walked here belong to python-hcl2's grammar, hence the `<9` bound.
- JSON is parsed by a ten-line Lark grammar for the same reason: Python's
  `json` module gives positions only for syntax errors and silently keeps the
  last of two duplicate keys (a `deny` could vanish that way). The JSON form is
  Vault's: `{"path": {"<glob>": {"capabilities": [...]}}}`; as in HCL1's JSON,
  `"path"` may also be a list of such objects, and repeated keys are kept.

Pure functions, no I/O, safe from any thread. Values nested deeper than a
policy needs are described, not walked, so hostile nesting cannot recurse.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import hcl2
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Str:
    """A quoted string, unescaped."""

    text: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Items:
    """A list (HCL tuple or JSON array)."""

    items: tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Other:
    """Any other value, kept only as a description for error messages ("a number")."""

    what: str
    pos: Pos


Value = Str | Items | Other


@dataclass(frozen=True, slots=True)
class Attr:
    key: str
    pos: Pos
    value: Value


@dataclass(frozen=True, slots=True)
class Block:
    """`path "<label>" { <attrs> }`."""

    label: str
    pos: Pos
    attrs: tuple[Attr, ...]


class SyntaxProblem(Exception):
    """Malformed policy text at a position (1-based line and column)."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def read_blocks(text: str) -> list[Block]:
    """The path blocks of `text`, in order. Raises `SyntaxProblem`."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as editors on Windows write
    if text.lstrip().startswith("{"):
        return _json_blocks(text)
    return _hcl_blocks(text)


# ---------------------------------------------------------------- errors


_TERMINALS = {
    "EQ": "'='", "COLON": "':'", "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['",
    "RSQB": "']'", "COMMA": "','", "DBLQUOTE": "'\"'", "NAME": "a name",
    "NL_OR_COMMENT": "a new line", "$END": "end of the text", "STRING": "a string",
}
_WORD_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\Z")


def _shown(value: str) -> str:
    first = value.strip(" \t").split("\n", 1)[0] or value
    return repr(first[:24] + ("..." if len(first) > 24 else ""))


def _offset(error: UnexpectedInput) -> int:
    value = getattr(error, "pos_in_stream", None)
    return value if isinstance(value, int) else 0


def _syntax_problem(text: str, error: LarkError) -> SyntaxProblem:
    """A Lark error as a message a policy author can act on."""
    if isinstance(error, UnexpectedInput):
        pos = Pos(max(error.line, 1), max(error.column, 1))
    else:  # pragma: no cover - Lark raises UnexpectedInput subclasses for bad input
        return SyntaxProblem(Pos(1, 1), f"cannot parse the policy: {error}")
    if isinstance(error, UnexpectedCharacters):
        offset = _offset(error)
        char = text[offset] if offset < len(text) else ""
        hint = "; strings use double quotes" if char == "'" else ""
        return SyntaxProblem(pos, f"unexpected character {char!r}{hint}")
    if not isinstance(error, UnexpectedToken):  # pragma: no cover - LALR reports tokens
        return SyntaxProblem(pos, "unexpected end of the text")
    token = error.token
    found = "end of the text" if token.type == "$END" else _shown(str(token))
    if token.type == "$END":
        last_line = text.rsplit("\n", 1)[-1]
        pos = Pos(text.count("\n") + 1, len(last_line) + 1)
    else:  # python-hcl2's '=' token starts with the blanks before it
        pos = Pos(pos.line, pos.column + len(str(token)) - len(str(token).lstrip(" \t")))
    before = _WORD_BEFORE.search(text, 0, _offset(error))
    if "EQ" in error.expected and before:  # `capabilities ["read"]`
        return SyntaxProblem(pos, f"expected '=' after {before.group(1)}, found {found}")
    hint = "; strings use double quotes" if str(token).startswith("'") else ""
    expected = sorted({_TERMINALS[t] for t in error.expected if t in _TERMINALS})
    wanted = f"; expected {' or '.join(expected)}" if expected else ""
    return SyntaxProblem(pos, f"unexpected {found}{wanted}{hint}")


# ---------------------------------------------------------------- HCL


def _pos(node: Tree[Token] | Token) -> Pos:
    if isinstance(node, Token):
        return Pos(node.line or 1, node.column or 1)
    if node.meta.empty:  # pragma: no cover - every tree we locate has tokens
        return Pos(1, 1)
    return Pos(node.meta.line, node.meta.column)


def _subtrees(tree: Tree[Token]) -> Iterator[Tree[Token]]:
    for child in tree.children:
        if isinstance(child, Tree) and child.data != "new_line_or_comment":
            yield child


_NAME_RULES = frozenset({"identifier", "keyword", "literal_value"})
_HCL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_HCL_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.S)


def _name(tree: Tree[Token]) -> str:
    return "".join(str(t) for t in tree.scan_values(lambda v: isinstance(v, Token)))


def _unescape(raw: str, pos: Pos) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _HCL_ESCAPES:
            return _HCL_ESCAPES[code]
        if code[0] in "uU" and len(code) > 1:
            value = int(code[1:], 16)
            if value <= 0x10FFFF and not 0xD800 <= value < 0xE000:
                return chr(value)
        raise SyntaxProblem(pos, f"invalid escape sequence {match.group(0)!r} in a string")

    return _HCL_ESCAPE.sub(one, raw)


def _hcl_string(tree: Tree[Token]) -> Str:
    pos = _pos(tree)
    pieces: list[str] = []
    for part in _subtrees(tree):
        child = part.children[0] if part.children else None
        if not isinstance(child, Token):
            raise SyntaxProblem(pos, "interpolation and template directives ('${', '%{') "
                                     "are not supported in policies")
        if child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
            pieces.append(str(child)[1:])  # '$${' is a literal '${'
        else:
            pieces.append(_unescape(str(child), pos))
    return Str("".join(pieces), pos)


_DESCRIPTIONS = {
    "int_lit": "a number", "float_lit": "a number", "object": "an object",
    "identifier": "a bare word (strings need double quotes)",
    "literal_value": "true, false or null",
    "heredoc_template": "a heredoc", "heredoc_template_trim": "a heredoc",
    "function_call": "a function call",
}


def _hcl_value(tree: Tree[Token], *, nested: bool = False) -> Value:
    pos = _pos(tree)
    inner = list(_subtrees(tree)) if tree.data == "expr_term" else []
    if len(inner) == 1 and len(tree.children) == 1:
        node = inner[0]
        if node.data == "string":
            return _hcl_string(node)
        if node.data == "tuple" and not nested:
            return Items(tuple(_hcl_value(t, nested=True) for t in _subtrees(node)), pos)
        if node.data == "tuple":
            return Other("a list", pos)
        return Other(_DESCRIPTIONS.get(node.data, "an expression"), pos)
    return Other("an expression", pos)


def _hcl_attrs(body: Tree[Token]) -> tuple[Attr, ...]:
    attrs: list[Attr] = []
    for node in _subtrees(body):
        names = [c for c in node.children if isinstance(c, Tree) and c.data in _NAME_RULES]
        key = _name(names[0]) if names else "?"
        if node.data == "attribute":
            attrs.append(Attr(key, _pos(node), _hcl_value(list(_subtrees(node))[-1])))
        else:  # a nested block such as `allowed_parameters { ... }`
            attrs.append(Attr(key, _pos(node), Other("a block", _pos(node))))
    return tuple(attrs)


def _hcl_block(node: Tree[Token]) -> Block:
    parts = list(_subtrees(node))
    kind, labels, body = _name(parts[0]), parts[1:-1], parts[-1]
    if kind != "path":
        raise SyntaxProblem(_pos(node), f"unknown block {kind!r}: a policy is a list of "
                                        'path "<glob>" { capabilities = [...] } blocks')
    if len(labels) != 1 or labels[0].data != "string":
        raise SyntaxProblem(_pos(node), 'a path block takes exactly one quoted path: '
                                        'path "secret/data/*" { ... }')
    label = _hcl_string(labels[0])
    return Block(label.text, label.pos, _hcl_attrs(body))


def _hcl_blocks(text: str) -> list[Block]:
    try:
        tree = hcl2.parses_to_tree(text if text.endswith("\n") else text + "\n")
    except LarkError as error:
        raise _syntax_problem(text, error) from None
    bodies = list(_subtrees(tree))
    blocks: list[Block] = []
    for node in _subtrees(bodies[0]) if bodies else ():
        if node.data != "block":
            names = [c for c in node.children if isinstance(c, Tree) and c.data in _NAME_RULES]
            key = _name(names[0]) if names else "?"
            raise SyntaxProblem(_pos(node), f"unexpected top-level key {key!r}: a policy is a "
                                            'list of path "<glob>" { ... } blocks')
        blocks.append(_hcl_block(node))
    return blocks


# ---------------------------------------------------------------- JSON

_JSON_GRAMMAR = r"""
?start: value
?value: object | array | string | NUMBER -> number
      | "true" -> true | "false" -> false | "null" -> null
array: "[" (value ("," value)*)? "]"
object: "{" (pair ("," pair)*)? "}"
pair: string ":" value
string: STRING
STRING: /"(?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
NUMBER: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/
%ignore /[ \t\r\n]+/
"""


@functools.cache
def _json_parser() -> Lark:
    # keep_all_tokens: a tree such as `true` then keeps its token, hence its position.
    return Lark(_JSON_GRAMMAR, parser="lalr", propagate_positions=True, keep_all_tokens=True)


def _json_string(tree: Tree[Token]) -> Str:
    token = tree.children[0]
    assert isinstance(token, Token)
    return Str(json.loads(str(token)), _pos(token))


_JSON_DESCRIPTIONS = {"number": "a number", "true": "true", "false": "false", "null": "null",
                      "object": "an object", "array": "a list"}


def _json_value(tree: Tree[Token], *, nested: bool = False) -> Value:
    if tree.data == "string":
        return _json_string(tree)
    if tree.data == "array" and not nested:
        return Items(tuple(_json_value(t, nested=True) for t in _subtrees(tree)), _pos(tree))
    return Other(_JSON_DESCRIPTIONS.get(tree.data, "a value"), _pos(tree))


def _json_pairs(tree: Tree[Token], what: str) -> list[tuple[Str, Tree[Token]]]:
    if tree.data != "object":
        raise SyntaxProblem(_pos(tree), f"{what} must be a JSON object")
    pairs: list[tuple[Str, Tree[Token]]] = []
    for pair in _subtrees(tree):
        key, value = list(_subtrees(pair))
        pairs.append((_json_string(key), value))
    return pairs


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _json_path_objects(value: Tree[Token]) -> Sequence[Tree[Token]]:
    return list(_subtrees(value)) if value.data == "array" else [value]


def _json_blocks(text: str) -> list[Block]:
    try:
        tree = _json_parser().parse(text)
    except LarkError as error:
        raise _syntax_problem(text, error) from None
    blocks: list[Block] = []
    for key, value in _json_pairs(tree, "a JSON policy"):
        if key.text != "path":
            raise SyntaxProblem(key.pos, f"unexpected top-level key {key.text!r}: a JSON policy "
                                         'is {"path": {"<glob>": {"capabilities": [...]}}}')
        for paths in _json_path_objects(value):
            for label, body in _json_pairs(paths, 'the value of "path"'):
                attrs = tuple(Attr(k.text, k.pos, _json_value(v))
                              for k, v in _json_pairs(body, f"path {_quoted(label.text)}"))
                blocks.append(Block(label.text, label.pos, attrs))
    return blocks


__all__ = ["Attr", "Block", "Items", "Other", "Pos", "Str", "SyntaxProblem", "Value",
           "read_blocks"]
