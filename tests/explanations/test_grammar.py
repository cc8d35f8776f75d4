"""Explanations as programs: every atom prints, parses back and computes what its name says.

    pytest -q tests/explanations/test_grammar.py
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.explanations.library import library
from charnn.text.concepts import concept_target
from charnn.text.grammar import ExplanationError
from charnn.text.parser import parse


def test_every_library_atom_prints_and_parses_back(austen_text):
    lib = library(austen_text[:30_000])
    assert len(lib) > 150 and set(lib.groups) == {"char", "after", "2 after"}
    for name in lib.names:
        assert str(parse(name)) == name
    assert 'inside `"`...`"`' in lib.names and "distance since newline" in lib.names
    assert "inside `'`...`'`" not in lib.names  # apostrophes do not pair up in prose


@pytest.mark.parametrize("text", [
    'inside `"`...`"` AND NOT after newline',
    "0.8 * log distance since newline - 0.3 * char [aeiou] + 0.001 * (char `a` OR after [^\\na-z])",
    "NOT (char upper AND before space) OR newline in last 8",
    "`\\n\\n` in last 4",
    "char [\\-\\]]",
    "2 after `.` AND NOT sentence_end in last 16",
    "-1.5 * depth `(`...`)`",
])
def test_printing_is_canonical(text):
    printed = str(parse(text))
    assert str(parse(printed)) == printed


@pytest.mark.parametrize("text, message", [
    ("", "empty explanation"),
    ("foo", "expected a term"),
    ("newline", "not a term by itself"),
    ("char `ab`", "one character"),
    ("inside `(`", "expected '...'"),
    ("distance since newline AND char `a`", "needs 0/1 operands"),
    ("log distance since line_position", "number per character"),
    ("char [b-a]", "runs backwards"),
    ("char upper AND", "expected a term"),
])
def test_bad_explanations_say_what_is_wrong(text, message):
    with pytest.raises(ExplanationError, match=message):
        parse(text)


def test_atoms_compute_what_they_say():
    text = 'ab (cd) "ef\ngh" i.\n\nj (k\n\nl) m'
    at = {ch: i for i, ch in enumerate(text)}  # the last index of each character
    ev = lambda s: parse(s).evaluate(text)  # noqa: E731
    inside = ev("inside `(`...`)`")
    assert inside[text.index("(")] == 1 and inside[text.index("d")] == 1 and inside[text.index(")")] == 0
    assert inside[at["k"]] == 1 and inside[at["l"]] == 0  # an unclosed parenthesis ends with its paragraph
    quotes = ev('inside `"`...`"`')
    assert quotes[text.index("e")] == 1 and quotes[text.index("g")] == 1 and quotes[text.index("i")] == 0
    np.testing.assert_array_equal(ev("after `(`")[1:], (np.array(list(text)) == "(")[:-1])
    np.testing.assert_array_equal(ev("before space")[:-1], (np.array(list(text)) == " ")[1:])
    d = ev("distance since newline")
    assert d[0] == 1 and d[text.index("\n")] == 0 and d[text.index("h")] == 2
    recent = ev("`.` in last 3")
    assert list(recent[at["."] - 1:at["."] + 4]) == [0, 1, 1, 1, 0]
    np.testing.assert_allclose(ev("log distance since newline"), np.log1p(d))
    assert ev("char [a-c]").sum() == 3 and ev("char [^a-z]").sum() == sum(not c.isalpha() for c in text)


def test_quote_atom_is_the_concept_and_distance_is_line_position(text_of):
    text = text_of(6000, seed=2)
    np.testing.assert_array_equal(parse('inside `"`...`"`').evaluate(text), concept_target(text, "inside_quotes"))
    d, col = parse("distance since newline").evaluate(text), concept_target(text, "line_position")
    first_line = np.arange(len(text)) < text.index("\n")
    np.testing.assert_array_equal(d[~first_line & (np.array(list(text)) != "\n")] - 1,
                                  col[~first_line & (np.array(list(text)) != "\n")])


def test_weighted_sum_and_chain_values(text_of):
    text = text_of(3000)
    a, b = parse("char vowel").evaluate(text), parse("inside `(`...`)`").evaluate(text)
    np.testing.assert_allclose(parse("0.5 * char vowel - 2 * inside `(`...`)`").evaluate(text), 0.5 * a - 2 * b)
    np.testing.assert_array_equal(parse("char vowel AND NOT inside `(`...`)`").evaluate(text), a * (1 - b))
    np.testing.assert_array_equal(parse("char vowel OR inside `(`...`)`").evaluate(text), np.maximum(a, b))
    assert parse("char vowel OR inside `(`...`)`").binary and not parse("0.5 * char vowel").binary
    assert parse("(char vowel AND char lower) OR after space").terms == 3
