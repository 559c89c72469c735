"""Caffe's .prototxt files (protobuf text format), e.g. the published deploy.prototxt.

    name: "GoogleNet"                      a field: name, colon, value
    layer {                                a sub-message: name, optional colon, braces
      name: "conv1/7x7_s2"  type: "Convolution"
      convolution_param { num_output: 64 pad: 3 kernel_size: 7 stride: 2 }
    }                                      '#' starts a comment; values: "strings", numbers, ENUMS, true/false
Without the .proto schema the parser cannot know which fields repeat, so every field maps to a LIST of
its values in file order: parse_prototxt(text)["layer"][0]["name"] == ["conv1/7x7_s2"]. `first()` reads
a field that appears once. `read_prototxt(path)` reads a file first (a regular file, of bounded size).
The parser is iterative (no recursion) and its work is linear in the text: nesting (MAX_DEPTH), the
number of messages (MAX_MESSAGES) and the text's size (MAX_TEXT_BYTES) are bounded by what real
networks need, so a small file cannot build millions of dicts ("a{}" costs 3 bytes and ~200 bytes of dict).
"""

import re

from ...errors import UserError
from . import check_file

WHAT = "Caffe .prototxt file"
MAX_DEPTH = 32
MAX_MESSAGES = (
    100_000  # GoogLeNet's deploy.prototxt has ~1,000 (layers and their parameters), ResNet-152's ~3,000
)
MAX_TEXT_BYTES = 4 << 20  # GoogLeNet's deploy.prototxt: 35,862 bytes
_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<punct>[{}:<>;,])|(?P<word>[^\s{}:<>;,"'#]+)"""
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def read_prototxt(path):
    """A .prototxt file -> parse_prototxt of its text (UTF-8; undecodable bytes become U+FFFD)."""
    size = check_file(path, WHAT)
    if size > MAX_TEXT_BYTES:
        raise UserError(
            f"{path} is {size:,} bytes, more than any network description ({MAX_TEXT_BYTES:,} at most); "
            "give the deploy.prototxt itself"
        )
    with open(path, "rb") as f:
        text = f.read(MAX_TEXT_BYTES + 1).decode("utf-8", errors="replace")
    return parse_prototxt(text, source=str(path))


def parse_prototxt(text, source="prototxt"):
    """Text-format message -> {field: [values]}; sub-messages are dicts of the same kind."""
    root, stack, key, expect_value, messages = {}, [], None, False, 0
    current = root
    for kind, tok, pos in _tokens(text, source):
        if kind == "punct" and tok in "{<":
            if key is None:
                raise _error(source, pos, "'{' without a field name")
            messages += 1
            if messages > MAX_MESSAGES:
                raise _error(source, pos, f"more than {MAX_MESSAGES:,} messages")
            child = {}
            current.setdefault(key, []).append(child)
            stack.append(current)
            if len(stack) > MAX_DEPTH:
                raise _error(source, pos, f"nested deeper than {MAX_DEPTH}")
            current, key, expect_value = child, None, False
        elif kind == "punct" and tok in "}>":
            if key is not None or not stack:
                raise _error(source, pos, "unexpected '}'")
            current = stack.pop()
        elif kind == "punct" and tok == ":":
            if key is None or expect_value:
                raise _error(source, pos, "unexpected ':'")
            expect_value = True
        elif kind == "punct":  # ';' and ',' may separate fields
            continue
        elif key is None:
            if kind != "word" or not re.fullmatch(r"[A-Za-z_][\w.]*", tok):
                raise _error(source, pos, f"expected a field name, found {tok[:20]!r}")
            key = tok
        elif expect_value:
            current.setdefault(key, []).append(_value(kind, tok, source, pos))
            key, expect_value = None, False
        else:
            raise _error(source, pos, f"expected ':' or '{{' after {key!r}")
    if stack or key is not None:
        raise UserError(f"{source} ends in the middle of a message; is the file complete?")
    return root


def first(message, field, default=None):
    """The single value of a field that appears once (the last one, as protobuf does), else default."""
    values = message.get(field)
    return values[-1] if values else default


def _tokens(text, source):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _error(source, pos, f"cannot read {text[pos : pos + 10]!r}")
        if m.lastgroup:
            yield m.lastgroup, m.group(m.lastgroup), pos
        pos = m.end()


def _value(kind, tok, source, pos):
    if kind == "str":
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), tok[1:-1])
    if tok in ("true", "True"):
        return True
    if tok in ("false", "False"):
        return False
    try:
        return int(tok, 0) if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", tok) else float(tok)
    except ValueError:
        if re.fullmatch(r"[A-Za-z_]\w*", tok):
            return tok  # an enum value: MAX, ACROSS_CHANNELS, ...
        raise _error(source, pos, f"cannot read the value {tok[:20]!r}") from None


def _error(source, pos, what):
    return UserError(f"{source}: {what} at character {pos}; is it a Caffe .prototxt file?")
