"""Explanations as small programs: their nodes, how they print, and their values on a text.

    from charnn.text.parser import parse
    prog = parse('inside `"`...`"` AND NOT after newline')   # Program(BoolOp("AND NOT", Inside, CharAtom))
    y = prog.evaluate(text)          # (len(text),) float32, 0/1 here
    str(prog), prog.binary, prog.terms

Grammar (atoms in charnn.text.atoms; AND binds like OR, left to right, and the printer adds
parentheses whenever two different operators meet):

    program := linear | boolean
    linear  := NUMBER '*' factor (('+' | '-') NUMBER '*' factor)*    "0.8 * log distance since newline - 0.3 * char space"
    factor  := atom | '(' boolean ')'
    boolean := unary (('AND' ['NOT'] | 'OR') unary)*                  "inside `(`...`)` AND NOT after newline"
    unary   := 'NOT' unary | atom | '(' boolean ')'

A linear program's value is the weighted sum (what `charnn search --explanation` correlates
with the unit); a boolean program's value is 0/1. AND, OR and NOT take 0/1 operands only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .atoms import Atom, TextIndex

OPS = ("AND", "OR", "AND NOT")  # the binary operators, as printed


class ExplanationError(ValueError):
    """An explanation's text does not parse, or combines terms that cannot be combined."""


@dataclass(frozen=True)
class Not:
    operand: object

    binary = True

    def __str__(self) -> str:
        return f"NOT {_wrap(self.operand)}"

    def evaluate_ix(self, ix: TextIndex) -> np.ndarray:
        return 1.0 - evaluate(self.operand, ix)


@dataclass(frozen=True)
class BoolOp:
    op: str  # one of OPS
    left: object
    right: object

    binary = True

    def __str__(self) -> str:
        left = str(self.left) if not isinstance(self.left, BoolOp) or self.left.op == self.op else f"({self.left})"
        return f"{left} {self.op} {_wrap(self.right)}"

    def evaluate_ix(self, ix: TextIndex) -> np.ndarray:
        a, b = evaluate(self.left, ix), evaluate(self.right, ix)
        if self.op == "AND":
            return a * b
        if self.op == "OR":
            return np.maximum(a, b)
        return a * (1.0 - b)


@dataclass(frozen=True)
class Linear:
    terms: tuple  # ((weight, term), ...)

    binary = False

    def __str__(self) -> str:
        parts = []
        for i, (w, t) in enumerate(self.terms):
            num = format_weight(abs(w) if i else w)
            sign = "" if i == 0 else (" - " if w < 0 else " + ")
            parts.append(f"{sign}{num} * {_wrap(t)}")
        return "".join(parts)

    def evaluate_ix(self, ix: TextIndex) -> np.ndarray:
        y = np.zeros(ix.n, np.float32)
        for w, t in self.terms:
            y += np.float32(w) * evaluate(t, ix)
        return y


def format_weight(w: float) -> str:
    """Three significant digits, the precision an explanation prints (and is scored with)."""
    return f"{w:.3g}"


def round_weight(w: float) -> float:
    return float(format_weight(w))


def _wrap(t) -> str:
    return f"({t})" if isinstance(t, (BoolOp, Linear)) else str(t)


def evaluate(node, ix: TextIndex) -> np.ndarray:
    """(n,) float32 values of a program node over ix's text."""
    if isinstance(node, Atom):
        return ix.memo(("atom", node), lambda: node.values(ix))
    return node.evaluate_ix(ix)


def is_binary(node) -> bool:
    return bool(node.binary)


def atoms_of(node) -> list:
    """The atoms a program uses, left to right (its terms, for counting)."""
    if isinstance(node, Atom):
        return [node]
    if isinstance(node, Not):
        return atoms_of(node.operand)
    if isinstance(node, BoolOp):
        return atoms_of(node.left) + atoms_of(node.right)
    return [a for _, t in node.terms for a in atoms_of(t)]


@dataclass(frozen=True)
class Program:
    """A parsed explanation: `root` is an Atom, Not, BoolOp or Linear."""
    root: object

    def __str__(self) -> str:
        return str(self.root)

    @property
    def binary(self) -> bool:
        return is_binary(self.root)

    @property
    def terms(self) -> int:
        return len(atoms_of(self.root))

    def evaluate(self, text: str | TextIndex) -> np.ndarray:
        ix = text if isinstance(text, TextIndex) else TextIndex(text)
        return np.asarray(evaluate(self.root, ix), np.float32)
