"""Built-in concepts on small hand-written texts: Austen-style dialogue, C, Python, prose.

    pytest -q tests/search/test_search_concepts.py
"""

from __future__ import annotations

import numpy as np
import pytest

from charnn.search import CONCEPTS, concept_target
from charnn.text.concepts import code_language


def marked(text, name):
    y = concept_target(text, name)
    assert y.shape == (len(text),) and y.dtype == np.float32
    return "".join(ch for ch, v in zip(text, y) if v)


AUSTEN = (
    'He said, "I am\n'
    'quite sure." She\n'
    'smiled.\n'
    '\n'
    '"My dear sir, this is a long\n'
    'speech that goes on.\n'
    '\n'
    '"And on into a second paragraph,\n'
    'which then ends." Then she left.\n'
    '\n'
    'A plain paragraph with "one" quote.\n'
)


def test_quotes_span_wrapped_lines_and_reopen_at_each_paragraph():
    assert marked(AUSTEN, "inside_quotes") == (
        '"I am\nquite sure.'
        '"My dear sir, this is a long\nspeech that goes on.'
        '"And on into a second paragraph,\nwhich then ends.'
        '"one')


def test_curly_quotes():
    assert marked("a \u201cb c\u201d d \u201ce\u201d", "inside_quotes") == "\u201cb c\u201ce"


C_SOURCE = r'''#include <stdio.h>
/* block comment with "quotes" and // slashes */
int main(void) { // line comment with 'apostrophe'
    char *s = "string with /* not a comment */ and \"escaped\" quote";
    char c = '"';
    return 0; /* multi
    line */
}
'''


def test_c_comments_and_strings():
    assert code_language(C_SOURCE) == "c"
    assert marked(C_SOURCE, "inside_comment") == (
        '/* block comment with "quotes" and // slashes *'
        "// line comment with 'apostrophe'"
        "/* multi\n    line *")
    assert marked(C_SOURCE, "inside_string") == r'"string with /* not a comment */ and \"escaped\" quote' + "'\""


PYTHON_SOURCE = '''import os

def f(x):  # a comment with "quotes"
    s = "a # not a comment"
    doc = """triple
    # still the string
    """
    return x // 2  # floor division, then a comment
'''


def test_python_comments_and_strings():
    assert code_language(PYTHON_SOURCE) == "python"
    assert marked(PYTHON_SOURCE, "inside_comment") == '# a comment with "quotes"# floor division, then a comment'
    assert marked(PYTHON_SOURCE, "inside_string") == '"a # not a comment' + '"""triple\n    # still the string\n    ""'


def test_prose_has_no_comments_or_strings():
    assert code_language(AUSTEN) is None
    assert not concept_target("Don't say 'x' # ok // fine\nit's done.\n", "inside_string").any()


def test_brackets_inside_and_depth():
    assert marked("a (b [c] d) e", "inside_parens") == "(b [c] d"
    assert marked("1) stray closer (x) y", "inside_parens") == "(x"
    assert marked("(unclosed\n\nnext (y)", "inside_parens") == "(unclosed(y"  # restarts at a paragraph
    np.testing.assert_array_equal(concept_target("f(a[1], {b})", "bracket_depth"),
                                  [0, 1, 1, 2, 2, 1, 1, 1, 2, 2, 1, 0])
    np.testing.assert_array_equal(concept_target(")(", "bracket_depth"), [0, 1])


def test_urls():
    text = "see https://example.com/a_b?x=1. And www.test.org, or (http://x.io/p) ok"
    assert marked(text, "inside_url") == "https://example.com/a_b?x=1" + "www.test.org" + "http://x.io/p"


def test_line_position_and_indent():
    np.testing.assert_array_equal(concept_target("ab\ncd", "line_position"), [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(concept_target("x\n  y\n\tz", "indent_depth"), [0, 0, 2, 2, 2, 2, 8, 8])


def test_character_classes():
    text = "aB 1\n\u00c9t\u00e9 \u0663"
    assert marked(text, "digit") == "1\u0663"
    assert marked(text, "uppercase") == "B\u00c9"
    assert marked(text, "whitespace") == " \n "


def test_sentence_end_skips_titles_and_initials():
    text = 'Mr. Darcy came. Did he? "Yes!" she said to J. Smith. e.g. this ends.'
    y = concept_target(text, "sentence_end")
    assert [text[i - 3:i + 1] for i in np.flatnonzero(y)] == ["ame.", " he?", "Yes!", "ith.", "nds."]


@pytest.mark.parametrize("name", list(CONCEPTS))
def test_every_concept_handles_empty_and_plain_text(name):
    assert concept_target("", name).shape == (0,)
    text = 'Plain "text" (here).\n  Next line 42.'
    y = concept_target(text, name)
    assert y.shape == (len(text),) and np.isfinite(y).all()
    if CONCEPTS[name].binary:
        assert set(np.unique(y)) <= {0.0, 1.0}


def test_unknown_concept_lists_the_known_ones():
    with pytest.raises(ValueError, match="inside_quotes"):
        concept_target("abc", "inside_qoutes")
