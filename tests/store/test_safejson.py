"""The defensive JSON reader: ordinary JSON reads as json.loads reads it; absurd depth, number length and size are
refused with one error class and a short sentence, before Python's json recursion or int conversion blows up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genimg.store.safejson import SafeJSONError, loads

ORDINARY = [
    '{"a": [1, 2.5, -3e-4, true, false, null], "b": {"c": "[[[{{{ 123456789 \\" ]]]"}}',
    "[]",
    "{}",
    "0",
    '"text"',
    '{"nested": [[[[[[[[[[1]]]]]]]]]]}',
    '{"unicode": "隐空间", "escape": "\\u00e9\\\\"}',
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_json_reads_as_json_loads_reads_it(text: str) -> None:
    assert loads(text) == json.loads(text)
    assert loads(text.encode("utf-8")) == json.loads(text)


def test_a_shipped_config_reads_unchanged() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "checkpoints" / "mnist-vae" / "config.json"
    text = path.read_text(encoding="utf-8")
    assert loads(text) == json.loads(text)


def test_python_json_itself_fails_on_the_attacks() -> None:
    """The attacks below are real: plain json.loads raises something other than JSONDecodeError on each."""
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError) as caught:
        json.loads("1" * 5000)
    assert not isinstance(caught.value, json.JSONDecodeError)


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested"),
    ("[" * 100_000, "nested"),  # never closed
    ("1" * 5000, "number"),
    ('{"step": ' + "9" * 5000 + "}", "number"),
    ("[-" + "1" * 200 + "]", "number"),
    ("[1." + "5" * 200 + "]", "number"),
    ("[1e" + "9" * 200 + "]", "number"),
])
def test_absurd_depth_and_number_length_are_refused_with_one_sentence(text: str, words: str) -> None:
    with pytest.raises(SafeJSONError) as caught:
        loads(text)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message and len(message) < 200


def test_limits_are_the_callers() -> None:
    assert loads("[[1]]", max_depth=2) == [[1]]
    with pytest.raises(SafeJSONError, match="2 levels"):
        loads("[[[1]]]", max_depth=2)
    assert loads("12345", max_digits=5) == 12345
    with pytest.raises(SafeJSONError, match="at most 5"):
        loads("123456", max_digits=5)
    assert loads('"abcd"', max_bytes=6) == "abcd"
    with pytest.raises(SafeJSONError, match="at most 5"):
        loads(b'"abcd"', max_bytes=5)
    with pytest.raises(SafeJSONError, match="at most 5"):
        loads('"abcd"', max_bytes=5)


def test_brackets_and_digits_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[" * 1000 + "9" * 1000, "quote": 'a "[[[" b\\'})
    assert loads(text, max_depth=1, max_digits=3) == json.loads(text)


@pytest.mark.parametrize("text", ["{", '{"a": }', '{"a": "unterminated', "", "nope", '{"a": 1,}', "[1] [2]"])
def test_invalid_json_raises_the_same_error_class(text: str) -> None:
    with pytest.raises(SafeJSONError, match="not valid JSON"):
        loads(text)


def test_bad_utf8_and_non_finite_constants() -> None:
    with pytest.raises(SafeJSONError, match="UTF-8"):
        loads(b'{"a": "\xff"}')
    assert loads("[NaN]")[0] != loads("[NaN]")[0]  # accepted by default, as json.loads does
    with pytest.raises(SafeJSONError, match="NaN"):
        loads("[NaN]", allow_nan=False)
    with pytest.raises(SafeJSONError, match="Infinity"):
        loads('{"a": -Infinity}', allow_nan=False)


def test_bad_limits_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        loads("1", max_depth=0)
    with pytest.raises(TypeError):
        loads(1)  # type: ignore[arg-type]


def test_a_deep_file_is_refused_in_a_fresh_interpreter_without_a_crash() -> None:
    """A depth bomb far past the C stack (10 million brackets) ends in SafeJSONError, not a crashed process."""
    code = (
        "from genimg.store.safejson import SafeJSONError, loads\n"
        "try:\n"
        "    loads('[' * 10_000_000, max_bytes=20_000_000)\n"
        "except SafeJSONError as error:\n"
        "    print('refused:', error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: it is nested more than")
