"""`charnn corpus build NAME` / `charnn corpus list`: build corpora from their recipes, list them.

    charnn corpus build linux                       # ~/.cache/charnn/corpora/linux (GPL: never committed)
    charnn corpus build linux --subsystems kernel,mm,fs --from linux-6.1.tar.xz
    charnn corpus build python-stdlib --include-tests
    charnn corpus build austen --out corpora/austen # rebuild a bundled corpus in place
    charnn corpus list

The one command that builds corpora (``python -m charnn.recipes`` forwards here). A build is
skipped when its folder is already complete (``--force`` rebuilds); each prints the corpus's
size, document count, sha256 and license. See charnn.recipes and charnn.recipes.cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..corpus import document_paths
from ..corpus_store import bundled_corpora, cache_root, corpora_dir
from ..recipes import RECIPES, RecipeError
from ..recipes.documents import corpus_digest
from . import CLIError


def add_parser(sub) -> None:
    p = sub.add_parser("corpus", help="build corpora from their recipes (linux, python-stdlib, ...) and list them")
    corpus_sub = p.add_subparsers(dest="corpus_command", required=True)

    b = corpus_sub.add_parser("build", help="build a corpus into the cache (skipped if already built)")
    b.add_argument("name", choices=sorted(RECIPES), help="which recipe")
    b.add_argument("--out", type=Path, default=None,
                   help="the corpus folder to write (default: $CHARNN_CACHE/corpora/NAME, else ~/.cache/charnn/corpora/NAME)")
    b.add_argument("--from", dest="source", type=Path, default=None,
                   help="a local .deb, .tgz, tarball, folder or data file instead of fetching with apt-get/npm")
    b.add_argument("--force", action="store_true", help="rebuild even if the folder is already complete")
    b.add_argument("--subsystems", default=None,
                   help="linux: comma-separated kernel folders to keep (default kernel,mm; e.g. kernel,mm,fs,net,drivers/net)")
    b.add_argument("--include-tests", action="store_true", default=None,
                   help="python-stdlib: keep the test suites (test/, tests/, idle_test/)")
    b.add_argument("--non-utf8", choices=["replace", "latin-1", "skip"], default=None,
                   help="linux, python-stdlib, debian-docs: files that are not valid UTF-8 "
                        "(default: replace bad bytes with U+FFFD)")
    b.set_defaults(func=main_build)

    ls = corpus_sub.add_parser("list", help="show bundled corpora and recipes, and which are built where")
    ls.set_defaults(func=main_list)


def _options(args) -> dict:
    options = {"subsystems": args.subsystems, "include_tests": args.include_tests, "non_utf8": args.non_utf8}
    return {k: v for k, v in options.items() if v is not None}


def _fmt(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _home(path: Path) -> str:
    """A path with the home folder written as ~."""
    try:
        return "~/" + Path(path).resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return str(path)


def main_build(args) -> int:
    from ..recipes.cache import build_cached, recipe_module

    try:
        recipe = recipe_module(args.name)
        out, manifest, built = build_cached(args.name, args.out, args.source, args.force, **_options(args))
    except RecipeError as err:
        raise CLIError(str(err)) from None
    state = f"built in {manifest['seconds']:.1f} s" if built else "already built; --force rebuilds it"
    print(f"corpus    {args.name} -> {out} ({state})")
    print(f"source    {manifest['source']}")
    if manifest["options"]:
        print(f"options   {', '.join(f'{k}={_fmt(v)}' for k, v in manifest['options'].items())}")
    print(f"documents {manifest['documents']}")
    print(f"size      {manifest['size']} bytes")
    print(f"sha256    {manifest['sha256']}  (documents concatenated in sorted-path order)")
    print(f"license   {manifest['license']}")
    if hasattr(recipe, "stats"):
        for key, value in recipe.stats(out).items():
            print(f"{key:<9} {value}")
    bundled = corpora_dir() / args.name
    if bundled.is_dir() and document_paths(bundled) and bundled.resolve() != out.resolve():
        same = corpus_digest(bundled)[1] == manifest["sha256"]
        print(f"bundled   {bundled}: {'same sha256' if same else 'sha256 differs from this build'}")
    print(f"use       charnn train {out}")
    return 0


def main_list(args) -> int:
    from ..recipes.cache import built_corpora, normalized_options, recipe_module

    root = corpora_dir()
    print(f"Bundled corpora ({root}):")
    names = bundled_corpora()
    for name in names:
        docs = document_paths(root / name)
        size = sum(p.stat().st_size for p in docs)
        print(f"  {name:<15} {len(docs):>6} documents {size:>13,} bytes")
    if not names:
        print("  (none)")
    cache = cache_root()
    print(f"\nRecipes (charnn corpus build NAME; cache {_home(cache)}"
          f"{', from $CHARNN_CACHE' if os.environ.get('CHARNN_CACHE') else ''}):")
    built = built_corpora(cache)
    for name in sorted(RECIPES):
        try:
            license_ = recipe_module(name).LICENSE.split(" (")[0].split(";")[0]
        except Exception as err:  # a broken recipe should not hide the others
            license_ = f"(cannot import: {err})"
        variants = [(f, m) for f, m in built if m.get("recipe") == name]
        if not variants:
            where = f"not built{' (bundled copy in corpora/)' if name in names else ''}"
            print(f"  {name:<15} {license_:<16} {where}")
        defaults = normalized_options(name, {})
        for folder, manifest in variants:
            changed = [f"{k}={_fmt(v)}"
                       for k, v in manifest.get("options", {}).items() if v != defaults.get(k)]
            tag = f"built ({'; '.join(changed)})" if changed else "built"
            print(f"  {name:<15} {license_:<16} {tag}: {manifest.get('documents', '?')} documents, "
                  f"{manifest.get('size', 0):,} bytes, sha256 {str(manifest.get('sha256'))[:12]}… -> {_home(folder)}")
    return 0
