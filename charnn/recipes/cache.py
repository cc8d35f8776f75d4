"""Building a recipe's corpus: once, atomically, with a manifest (what ``charnn corpus build`` runs).

    folder, manifest, built = build_cached("linux")        # ~/.cache/charnn/corpora/linux
    build_cached("linux", subsystems=("kernel", "mm", "fs"))   # .../corpora/linux-fs-kernel-mm
    build_cached("austen", out="corpora/austen")           # any folder

The cache root is ``$CHARNN_CACHE/corpora``, else ``$XDG_CACHE_HOME/charnn/corpora``, else
``~/.cache/charnn/corpora``. A recipe builds into a temporary sibling folder
(:func:`charnn.fsio.atomic_dir`); the manifest :data:`MARKER` (JSON: name, options, license,
source, document count, size, sha256 of the documents concatenated in loader order, build time)
is written last, and only then is the folder renamed into place, so a kill leaves the previous
folder or none. A folder with the marker is complete and is reused; a folder without it is
replaced only when it holds nothing the new build does not write again (a bundled corpus being
rebuilt), never when that would lose a file. Non-default recipe options get their own folder
name, and a complete folder built with other options is not silently reused.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import time
from pathlib import Path

from ..corpus import document_paths
from ..corpus_store import MARKER, cache_root, corpora_dir
from ..fsio import atomic_dir, write_json
from . import RECIPES, RecipeError
from .documents import corpus_digest, read_build_info

FORMAT = 1


def recipe_module(name: str):
    if name not in RECIPES:
        raise RecipeError(f"no recipe {name!r}; recipes: {', '.join(sorted(RECIPES))}")
    return importlib.import_module(RECIPES[name])


def recipe_options(name: str) -> dict:
    """The keyword options a recipe's ``build`` takes, with their defaults (``subsystems``, ``include_tests``...)."""
    params = inspect.signature(recipe_module(name).build).parameters
    return {k: p.default for k, p in params.items()
            if k not in ("out_dir", "source") and p.default is not inspect.Parameter.empty}


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def normalized_options(name: str, options: dict | None) -> dict:
    """All of a recipe's options, defaults filled in, as JSON values; unknown names are errors."""
    defaults = recipe_options(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise RecipeError(f"recipe {name!r} takes no option {', '.join(unknown)} "
                          f"(its options: {', '.join(defaults) or 'none'})")
    merged = {**defaults, **options}
    module = recipe_module(name)
    if "subsystems" in merged and hasattr(module, "normalize_subsystems"):
        merged["subsystems"] = module.normalize_subsystems(merged["subsystems"])
    return {k: _jsonable(v) for k, v in sorted(merged.items())}


def folder_name(name: str, options: dict | None = None) -> str:
    """The cache folder of a build: the recipe name, plus a suffix for non-default options."""
    opts = normalized_options(name, options)
    defaults = normalized_options(name, {})
    suffix = []
    for key, value in opts.items():
        if value == defaults[key]:
            continue
        if isinstance(value, list):
            suffix.append("-".join(str(v).replace("/", "_") for v in value))
        elif isinstance(value, bool):
            suffix.append(key.replace("_", "-") if value else f"no-{key.replace('_', '-')}")
        else:
            suffix.append(f"{key.replace('_', '-')}-{value}")
    return "-".join([name, *suffix])


def default_out(name: str, options: dict | None = None) -> Path:
    return cache_root() / folder_name(name, options)


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a complete built corpus, or None if ``folder`` is not one."""
    try:
        return json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def built_corpora(root: Path | None = None) -> list[tuple[Path, dict]]:
    """(folder, manifest) of every complete corpus in the cache, by folder name."""
    root = Path(root) if root is not None else cache_root()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            manifest = read_manifest(folder)
            if manifest is not None:
                found.append((folder, manifest))
    return found


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def _manifest(name: str, module, opts: dict, folder: Path, source: Path | None, seconds: float) -> dict:
    """What a build made and from what: the JSON kept in the folder as :data:`MARKER`."""
    size, sha = corpus_digest(folder)
    info = read_build_info(folder)
    return {
        "format": FORMAT,
        "recipe": name,
        "options": opts,
        "license": module.LICENSE,
        "source": info.get("source") or (str(Path(source).resolve()) if source is not None
                                          else f"registry package {getattr(module, 'PACKAGE', name)}"),
        "from": str(Path(source).resolve()) if source is not None else None,
        "documents": len(document_paths(folder)),
        "size": size,
        "sha256": sha,
        "sha256_of": "the documents concatenated in sorted-path order (as loaders read them)",
        "seconds": round(seconds, 2),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "build": {k: v for k, v in info.items() if k not in ("source", "recipe")},
    }


def build_cached(name: str, out: Path | None = None, source: Path | None = None, force: bool = False,
                 **options) -> tuple[Path, dict, bool]:
    """Build recipe ``name`` into ``out`` (default: the cache) unless it is already there.

    Returns (folder, manifest, built): ``built`` is False when a complete folder with the same
    options was found and reused. ``force`` rebuilds and replaces a complete folder.
    """
    module = recipe_module(name)
    opts = normalized_options(name, options)
    out = Path(out).expanduser() if out is not None else default_out(name, options)
    if getattr(module, "NEVER_COMMIT", False) and out.resolve().is_relative_to(corpora_dir().resolve()):
        raise RecipeError(f"{name} is {module.LICENSE.split(' ')[0]} text, built on demand and never committed: "
                          f"build it into the cache (leave out --out) or a folder outside {corpora_dir()}")
    if out.exists() and not out.is_dir():
        raise RecipeError(f"{out} exists and is not a folder: choose another --out")
    existing = read_manifest(out)
    if existing is not None and not force:
        if existing.get("recipe") != name or existing.get("options") != opts:
            raise RecipeError(
                f"{out} already holds {existing.get('recipe')!r} built with options {existing.get('options')}, "
                f"not {name!r} with {opts}: pass --force to rebuild it, or choose another --out")
        return out, existing, False

    # Replacing a folder without the manifest is refused below when it holds a file the build would not rewrite.
    with atomic_dir(out, lambda folder: True, "corpus") as tmp:
        t0 = time.time()
        build_kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts.items()}
        module.build(tmp, Path(source).expanduser() if source is not None else None, **build_kwargs)
        manifest = _manifest(name, module, opts, tmp, source, time.time() - t0)
        lost = sorted(_files(out) - _files(tmp)) if existing is None and out.is_dir() else []
        if lost:
            raise RecipeError(f"{out} is not a corpus built by charnn (no {MARKER} manifest) and holds files "
                              f"this build would not write again ({', '.join(lost[:3])}"
                              f"{', ...' if len(lost) > 3 else ''}): move them away or choose another --out")
        # The manifest goes in last: a folder without it is an unfinished build.
        write_json(tmp / MARKER, manifest)
    return out, manifest, True
