"""Parse an explanation's text into a program (`charnn.text.grammar`), with errors that point at the spot.

    from charnn.text.parser import parse
    parse("0.8 * log distance since newline - 0.3 * char [aeiou]").evaluate(text)
    parse("char [b-a]")     # ExplanationError: ... range b-a runs backwards at character 9 (...)

A hand-written recursive-descent parser over the grammar in `charnn.text.grammar`:
backtick literals and [sets] hold any character, so the text is scanned character by
character rather than split into words. Keywords (AND, OR, NOT) may be written in any case.
"""

from __future__ import annotations

import re

from ..limits import MAX_MAGNITUDE
from .atoms import CLASSES, Atom, CapitalisedWord, CharAtom, CharPred, Concept, Depth, Distance, Event, Inside, Recent
from .concepts import CONCEPTS
from .grammar import BoolOp, ExplanationError, Linear, Not, Program, is_binary


def parse(text: str) -> Program:
    """Program from its text; an ExplanationError says where the text stops making sense."""
    p = _Parser(text)
    root = p.program()
    p.ws()
    if not p.done():
        p.fail("unexpected text")
    return Program(root)


MAX_DEPTH = 32  # nested NOTs and parentheses: deeper says nothing more, and would exhaust Python's stack
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


class _Parser:
    def __init__(self, s: str):
        if not isinstance(s, str) or not s.strip():
            raise ExplanationError("empty explanation: give one such as 'inside `\"`...`\"` AND NOT after newline'")
        self.s, self.i, self.depth = s, 0, 0

    # ------------------------------------------------------------------ scanning
    def fail(self, what: str):
        near = self.s[self.i:self.i + 25] or "the end"
        shown = self.s if len(self.s) <= 100 else self.s[:97] + "..."
        raise ExplanationError(f"explanation {shown!r}: {what} at character {self.i + 1} ({near!r})")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def done(self) -> bool:
        return self.i >= len(self.s)

    def peek(self, lit: str) -> bool:
        self.ws()
        return self.s.startswith(lit, self.i)

    def peek_word(self) -> str | None:
        self.ws()
        m = _WORD.match(self.s, self.i)
        return m.group() if m else None

    def take(self, lit: str) -> bool:
        if self.peek(lit):
            if lit[-1].isalpha() and self.i + len(lit) < len(self.s) and (self.s[self.i + len(lit)].isalnum()
                                                                          or self.s[self.i + len(lit)] == "_"):
                return False  # a longer word that starts with lit
            self.i += len(lit)
            return True
        return False

    def expect(self, lit: str) -> None:
        if not self.take(lit):
            self.fail(f"expected {lit!r}")

    def word(self, *choices) -> str | None:
        w = self.peek_word()
        if w is not None and (not choices or w in choices or w.upper() in choices):
            self.i += len(w)
            return w
        return None

    # ------------------------------------------------------------------ grammar
    def program(self):
        self.ws()
        m = _NUMBER.match(self.s, self.i)
        if m and self.s[m.end():].lstrip().startswith("*"):
            return self.linear()
        return self.boolean()

    def linear(self) -> Linear:
        terms, sign = [], 1.0
        while True:
            self.ws()
            m = _NUMBER.match(self.s, self.i)
            if not m:
                self.fail("expected a weight (a number)")
            weight = float(m.group())
            if abs(weight) > MAX_MAGNITUDE:  # also an overflow to inf, such as 1e400
                self.fail(f"a weight must be within +-{MAX_MAGNITUDE:g}")
            self.i = m.end()
            self.expect("*")
            terms.append((sign * weight, self.factor()))
            if self.take("+"):
                sign = 1.0
            elif self.take("-"):
                sign = -1.0
            else:
                return Linear(tuple(terms))

    def factor(self):
        if self.take("("):
            return self.nested(self.group)
        return self.atom()

    def group(self):
        node = self.boolean()
        self.expect(")")
        return node

    def nested(self, rule):
        """rule() one nesting level deeper (a NOT or a parenthesis), refused beyond MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested more than {MAX_DEPTH} deep (NOTs and parentheses)")
        try:
            return rule()
        finally:
            self.depth -= 1

    def boolean(self):
        node = self.unary()
        while True:
            start = self.i
            op = self.word("AND", "OR")
            if op is None:
                return node
            op = op.upper()
            if op == "AND" and self.word("NOT"):
                op = "AND NOT"
            right = self.unary()
            for side in (node, right):
                if not is_binary(side):
                    self.i = start
                    self.fail(f"{op} needs 0/1 operands, and `{side}` is a number per character")
            node = BoolOp(op, node, right)

    def unary(self):
        if self.word("NOT"):
            operand = self.nested(self.unary)
            if not is_binary(operand):
                self.fail(f"NOT needs a 0/1 operand, and `{operand}` is a number per character")
            return Not(operand)
        if self.take("("):
            return self.nested(self.group)
        return self.atom()

    def atom(self) -> Atom:
        self.ws()
        start = self.i
        if self.take("inside") or self.take("depth"):
            kind = self.s[start:self.i].strip()
            a = self.literal()
            self.expect("...")
            b = self.literal()
            if len(a) != 1 or len(b) != 1:
                self.fail("a delimiter pair is one character each, such as `(`...`)`")
            return Inside(a, b) if kind == "inside" else Depth(a, b)
        if self.take("log"):
            self.expect("distance")
            self.expect("since")
            return Distance(self.event(), log=True)
        if self.take("distance"):
            self.expect("since")
            return Distance(self.event())
        if self.take("in"):
            self.expect("capitalised")
            self.expect("word")
            return CapitalisedWord()
        if self.peek("2") and re.match(r"2\s+after\b", self.s[self.i:]):
            self.take("2")
            self.expect("after")
            return CharAtom("2 after", self.pred())
        for position in ("char", "after", "before"):
            if self.take(position):
                return CharAtom(position, self.pred())
        w = self.peek_word()
        if w in CONCEPTS and not re.match(r"\s*in\s+last\b", self.s[self.i + len(w):]):
            self.i += len(w)
            return Concept(w)
        if not (self.peek("`") or self.peek("[") or w in CLASSES or w in CONCEPTS):
            self.fail("expected a term (char X, after X, before X, inside `a`...`b`, distance since X, "
                      "X in last K, or a concept name)")
        event = self.event()
        if self.take("in"):
            self.expect("last")
            self.ws()
            m = re.compile(r"\d+").match(self.s, self.i)
            if not m or int(m.group()) < 1:
                self.fail("expected a window length (a positive whole number)")
            self.i = m.end()
            return Recent(event, int(m.group()))
        self.i = start
        self.fail(f"`{event}` is not a term by itself: write char {event}, after {event}, distance since {event} "
                  f"or {event} in last K")

    def event(self) -> Event:
        self.ws()
        if self.peek("`"):
            s = self.literal()
            return Event(pred=CharPred.of(s)) if len(s) == 1 else Event(string=s)
        w = self.peek_word()
        if w in CONCEPTS:
            self.i += len(w)
            if not CONCEPTS[w].binary:
                self.fail(f"concept {w} is a number per character, not an event")
            return Event(concept=w)
        return Event(pred=self.pred())

    def pred(self) -> CharPred:
        self.ws()
        if self.peek("`"):
            s = self.literal()
            if len(s) != 1:
                self.fail("a character term takes one character in backticks")
            return CharPred.of(s)
        if self.peek("["):
            return self.char_set()
        w = self.peek_word()
        if w in CLASSES:
            self.i += len(w)
            return CharPred.named(w)
        self.fail(f"expected a character: `x`, a set [abc], or one of {', '.join(CLASSES)}")

    def escape_char(self, specials: str) -> str:
        """One character at self.i, a backslash escape (\\n \\t \\r \\xNN \\uNNNN \\<char>) resolved."""
        if self.i >= len(self.s):
            self.fail("unfinished character")
        ch = self.s[self.i]
        if ch != "\\":
            self.i += 1
            return ch
        nxt = self.s[self.i + 1:self.i + 2]
        simple = {"n": "\n", "t": "\t", "r": "\r"}
        for prefix, width in (("x", 2), ("u", 4)):
            if nxt == prefix:
                digits = self.s[self.i + 2:self.i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    self.fail(f"\\{prefix} needs {width} hex digits")
                self.i += 2 + width
                return chr(int(digits, 16))
        if nxt in simple:
            self.i += 2
            return simple[nxt]
        if nxt and (nxt in specials or nxt == "\\"):
            self.i += 2
            return nxt
        self.fail("unknown escape")

    def literal(self) -> str:
        self.ws()
        if not self.take("`"):
            self.fail("expected a character in backticks, such as `\"`")
        out = []
        while not self.s.startswith("`", self.i):
            if self.i >= len(self.s):
                self.fail("unclosed backtick")
            out.append(self.escape_char("`"))
        self.i += 1
        if not out:
            self.fail("empty backticks")
        return "".join(out)

    def char_set(self) -> CharPred:
        self.expect("[")
        negated = self.s.startswith("^", self.i)
        self.i += negated
        chars = set()
        while not self.s.startswith("]", self.i):
            if self.i >= len(self.s):
                self.fail("unclosed [")
            a = self.escape_char("[]-^")
            if self.s.startswith("-", self.i) and not self.s.startswith("-]", self.i):
                self.i += 1
                b = self.escape_char("[]-^")
                if ord(b) < ord(a):
                    self.fail(f"range {a}-{b} runs backwards")
                chars.update(chr(c) for c in range(ord(a), ord(b) + 1))
            else:
                chars.add(a)
        self.i += 1
        if not chars:
            self.fail("empty character set")
        return CharPred.of(chars, negated)
