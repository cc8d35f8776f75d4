"""Argument types shared by the subcommands: argparse rejects a bad value with a one-line error
naming the flag (`argument --seq-len: must be an integer >= 1, not 0`) before anything runs.

    p.add_argument("--top", type=at_least(0), default=20)
    p.add_argument("--unit", type=unit)
"""

from __future__ import annotations

import argparse
import math

from ..run import check_device
from ..units import Unit


def at_least(low: int, high: int | None = None):
    """An integer type refusing values below `low` (and above `high`, if given)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high:,}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, not {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def finite(low: float = -math.inf, low_open: bool = False, high: float = math.inf):
    """A float type refusing NaN, infinities and values below `low` (or equal to it, if low_open)
    or above `high`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        if value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}, not {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high:g}, not {text}")
        return value
    parse.__name__ = "number"
    return parse


def device(text: str) -> str:
    """cpu, cuda or cuda:N, checked against this torch before anything runs."""
    try:
        return check_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def unit(text: str) -> Unit:
    try:
        return Unit.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def units(text: str) -> list[Unit]:
    """'0:c:37' or '0:c:37,0:c:40' -> [Unit, ...]."""
    return [unit(part) for part in text.split(",")]


def kinds(text: str) -> list[str]:
    """'c,h' -> ['c', 'h']."""
    names = [k.strip() for k in text.split(",") if k.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no kinds in {text!r}: give e.g. c,h")
    return names


def cluster_arguments(parser) -> None:
    """--cluster ADDRESS | --workers N on a subcommand (read by `charnn.cluster.connect(args.cluster, args.workers)`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cluster", metavar="ADDRESS", default=None,
                       help="a Dask scheduler (tcp://host:8786) whose workers do the work, one task per part; "
                            "the recording's folder must be on a filesystem every worker sees")
    group.add_argument("--workers", type=at_least(1), default=None, metavar="N",
                       help="start a local Dask cluster of N worker processes for this command")
