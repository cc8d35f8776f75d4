"""A URL-dense, permissively licensed text: MDN browser-compat-data (npm ``@mdn/browser-compat-data``, CC0).

The npm package ships one big ``data.json`` (about 20 MB). The recipe keeps a fixed set of whole
top-level sections and pretty-prints each as its own document, ``{"SECTION": ...}`` with
``indent=2``, key order as in ``data.json``, non-ASCII characters kept, and a final newline. The
``mdn_url`` and ``spec_url`` fields carry the URLs (about 1,100 per MB of output).

    charnn corpus build mdn-bcd --out corpora/mdn-bcd                  # npm pack (pinned version)
    charnn corpus build mdn-bcd --out corpora/mdn-bcd --from X.tgz     # or a local copy

``source`` may be the package tarball (``npm pack``), a folder holding ``data.json`` (the one
nearest its top, e.g. ``package/data.json``), or ``data.json`` itself. The output depends on the
package version, which is pinned (:data:`VERSION`) when fetching and recorded in the NOTICE.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import RecipeError
from .documents import DocumentWriter, url_stats
from .sources import recipe_input, source_files

NAME = "mdn-bcd"
PACKAGE = "@mdn/browser-compat-data"
VERSION = "8.1.9"  # data.json changes weekly; pin what the committed corpus was built from
LICENSE = "CC0-1.0 (MDN browser-compat-data)"
# Whole top-level sections of data.json, each one document: HTTP headers/methods/status codes,
# MathML elements, the web app manifest and image media types (about 1.1 MB together).
SECTIONS = ("http", "mathml", "manifests", "mediatypes")
HINT = (f"the package tarball (`npm pack {PACKAGE}@{VERSION}`), its unpacked folder, "
        f"or its data.json")

stats = url_stats  # URLs and URLs per MB, for the CLI


def _read_source(source: Path) -> tuple[bytes, bytes | None]:
    """(data.json bytes, package.json bytes if beside it) of a tarball, a folder or a data.json."""
    if source.is_file() and source.name.lower().endswith(".json"):
        return source.read_bytes(), None
    files = dict(source_files(source, lambda rel: rel.split("/")[-1] in ("data.json", "package.json"), HINT))
    data_name = next((n for n in sorted(files, key=len) if n.split("/")[-1] == "data.json"), None)
    if data_name is None:
        raise RecipeError(f"{source} holds no data.json. Pass {HINT}.")
    return files[data_name], files.get(data_name[: -len("data.json")] + "package.json")


def _load(source: Path) -> tuple[dict, str | None]:
    """(parsed data.json, package version from package.json or data.json's __meta if seen)."""
    raw, package = _read_source(Path(source))
    try:
        data = json.loads(raw)
        version = json.loads(package).get("version") if package is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecipeError(f"{source}: data.json or package.json is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: data.json is not a JSON object")
    meta = data.get("__meta")
    if version is None and isinstance(meta, dict):
        version = meta.get("version")
    return data, version


def render(data: dict) -> dict[str, str]:
    """The documents: file name -> text, one per section of :data:`SECTIONS`."""
    missing = [s for s in SECTIONS if s not in data]
    if missing:
        raise RecipeError(f"data.json lacks section(s) {', '.join(missing)} (has {', '.join(data)})")
    return {f"{s}.json": json.dumps({s: data[s]}, indent=2, ensure_ascii=False) + "\n" for s in SECTIONS}


def notice(version: str | None) -> str:
    files = "\n".join(f"  {s}.json  the \"{s}\" section of data.json" for s in SECTIONS)
    return f"""\
MDN browser-compat-data, a subset: whole top-level sections of the package's data.json, each
pretty-printed as its own document (JSON, indent 2, key order as in data.json):
{files}

Source: npm package {PACKAGE} {version or '(version unknown)'}
(https://github.com/mdn/browser-compat-data).
License: CC0 1.0 Universal (public domain dedication),
https://creativecommons.org/publicdomain/zero/1.0/

Rebuild: python -m charnn.recipes mdn-bcd --out corpora/mdn-bcd [--from mdn-browser-compat-data-*.tgz]
"""


def build(out_dir: Path, source: Path | None = None) -> Path:
    """Write the documents into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` the tarball is fetched with ``npm pack @mdn/browser-compat-data@VERSION``.
    """
    with recipe_input(NAME, source, "npm", f"{PACKAGE}@{VERSION}", HINT) as path:
        data, version = _load(path)
    writer = DocumentWriter(out_dir)
    for name, text in render(data).items():
        writer.add_text(name, text)
    writer.add_note("NOTICE", notice(version))
    return Path(out_dir)
