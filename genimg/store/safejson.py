"""A JSON reader for files genimg did not write itself (model folders, checkpoints, lessons): it refuses absurd
sizes, nesting depths and number lengths before Python's json module recurses or converts them.

Python's `json.loads` recurses once per nested array/object, so a file nested 100,000 deep raises RecursionError
(or worse), and it converts every integer with `int()`, which refuses more than 4300 digits with a ValueError and
costs quadratic time below that. Both escape the `json.JSONDecodeError` a caller expects. `loads` scans the text
first, without recursion, and raises one error class, SafeJSONError, whose message is one short sentence without
any path (the caller adds the file's name).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_DIGITS", "SafeJSONError", "loads"]

# A genimg config.json nests 3 deep and its longest number has about 20 characters; lessons nest a little more.
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_DIGITS = 100
DEFAULT_MAX_BYTES = 1024 * 1024

# One token of the pre-scan: a whole string (escapes included; unrolled so the regex engine never backtracks),
# an opening or closing bracket, or a number (it starts with a digit or a minus sign and runs over every
# character a JSON number may hold). Anything else (true, commas, white space) is skipped by finditer.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]|-?[0-9][0-9.eE+-]*|"')


class SafeJSONError(ValueError):
    """The text is not JSON that genimg accepts: too large, nested too deep, a number too long, or not JSON at all.

    The message is one short sentence naming the limit and what is accepted, without a file name or path.
    """


def loads(
    text: str | bytes | bytearray,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_digits: int = DEFAULT_MAX_DIGITS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_nan: bool = True,
) -> Any:
    """Parse JSON text like `json.loads`, refusing what could exhaust the stack, the CPU or memory.

    `text`: str, or UTF-8 bytes (a byte-order mark is not accepted, as in strict JSON).
    `max_bytes`: the most bytes (for bytes) or characters (for str) accepted; checked before anything else.
    `max_depth`: the most arrays/objects open at once (`[[1]]` is depth 2; a bare number is depth 0).
    `max_digits`: the most characters in one number, sign, point and exponent included.
    `allow_nan`: whether the non-standard NaN, Infinity and -Infinity are accepted (Python's default accepts them).
    Returns the parsed value (dict, list, str, int, float, bool or None). Raises SafeJSONError for every problem.
    """
    for name, limit in (("max_depth", max_depth), ("max_digits", max_digits), ("max_bytes", max_bytes)):
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"{name} = {limit!r} is not accepted: a positive whole number is expected")
    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_bytes:
            raise SafeJSONError(f"it is {len(text):,} bytes; at most {max_bytes:,} bytes are accepted")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise SafeJSONError(f"it is not UTF-8 text (a bad byte at offset {error.start:,})") from None
    elif isinstance(text, str):
        if len(text) > max_bytes:
            raise SafeJSONError(f"it is {len(text):,} characters long; at most {max_bytes:,} are accepted")
    else:
        raise TypeError(f"text is a {type(text).__name__}; str or bytes is accepted")

    _check_shape(text, max_depth=max_depth, max_digits=max_digits)

    def refuse_constant(name: str) -> Any:
        raise SafeJSONError(f"it holds {name}, which JSON does not allow; write a number or null")

    try:
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise SafeJSONError(f"it is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except (RecursionError, ValueError) as error:  # the pre-scan should have caught these; never let them escape
        if isinstance(error, SafeJSONError):
            raise
        raise SafeJSONError(f"it could not be read as JSON ({type(error).__name__})") from None


def _check_shape(text: str, *, max_depth: int, max_digits: int) -> None:
    """Refuse nesting deeper than `max_depth` and numbers longer than `max_digits`, in one pass without recursion.

    Strings are skipped whole, so brackets and digits inside them do not count. The scan stops at the first
    violation, so a 100,000-deep file costs only as much as its first `max_depth` brackets.
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first == '"':
            if len(token) == 1:  # an unterminated string: json.loads reports it with its position
                return
            continue
        if first in "[{":
            depth += 1
            if depth > max_depth:
                raise SafeJSONError(f"it is nested more than {max_depth} levels deep; at most {max_depth} are accepted")
        elif first in "]}":
            depth -= 1
        elif len(token) > max_digits:
            raise SafeJSONError(
                f"it holds a number {len(token):,} characters long; numbers of at most {max_digits} are accepted"
            )
