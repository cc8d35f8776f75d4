"""A URL-dense, permissively licensed text: MDN browser-compat-data (npm ``@mdn/browser-compat-data``, CC0).

The npm package ships one big ``data.json`` (about 20 MB). The recipe keeps a fixed set of whole
top-level sections and pretty-prints each as its own document, ``{"SECTION": ...}`` with
``indent=2``, key order as in ``data.json``, non-ASCII characters kept, and a final newline. The
``mdn_url`` and ``spec_url`` fields carry the URLs (about 1,100 per MB of output).

    python -m charnn.recipes mdn-bcd --out corpora/mdn-bcd                  # npm pack (pinned version)
    python -m charnn.recipes mdn-bcd --out corpora/mdn-bcd --from X.tgz     # or a local copy

``source`` may be the package tarball (``npm pack``), a folder holding ``data.json`` or
``package/data.json``, or ``data.json`` itself. The output depends on the package version, which is
pinned (:data:`VERSION`) when fetching and recorded in the NOTICE.
"""

from __future__ import annotations

import json
import re
import tarfile
import tempfile
from pathlib import Path

from ._common import RecipeError, npm_pack, write_corpus

NAME = "mdn-bcd"
PACKAGE = "@mdn/browser-compat-data"
VERSION = "8.1.9"  # data.json changes weekly; pin what the committed corpus was built from
LICENSE = "CC0-1.0 (MDN browser-compat-data)"
# Whole top-level sections of data.json, each one document: HTTP headers/methods/status codes,
# MathML elements, the web app manifest and image media types (about 1.1 MB together).
SECTIONS = ("http", "mathml", "manifests", "mediatypes")
HINT = (f"the package tarball (`npm pack {PACKAGE}@{VERSION}`), its unpacked folder, "
        f"or its data.json")

URL_RE = re.compile(r"""https?://[^\s"'<>\\]+""")


def count_urls(text: str) -> int:
    return len(URL_RE.findall(text))


def stats(folder: Path) -> dict[str, str]:
    """Figures reported by the CLI: URLs and URLs per MB (10^6 bytes) of the documents."""
    texts = [(Path(folder) / f"{s}.json").read_bytes() for s in SECTIONS if (Path(folder) / f"{s}.json").is_file()]
    size = sum(len(t) for t in texts)
    urls = sum(count_urls(t.decode("utf-8")) for t in texts)
    return {"urls": str(urls), "urls_per_mb": f"{urls / max(size, 1) * 1e6:.0f}"}


def _load(source: Path) -> tuple[dict, str | None]:
    """(parsed data.json, package version from package.json if seen)."""
    source = Path(source)
    if not source.exists():
        raise RecipeError(f"{source} does not exist. Pass {HINT}.")
    version = None
    if source.is_dir():
        for sub in ("", "package/"):
            if (source / sub / "data.json").is_file():
                if (source / sub / "package.json").is_file():
                    version = json.loads((source / sub / "package.json").read_text("utf-8")).get("version")
                raw = (source / sub / "data.json").read_bytes()
                break
        else:
            raise RecipeError(f"{source} holds no data.json or package/data.json. Pass {HINT}.")
    elif source.name.lower().endswith(".json"):
        raw = source.read_bytes()
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            members = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
            data_name = next((n for n in sorted(members, key=len) if n.split("/")[-1] == "data.json"), None)
            if data_name is None:
                raise RecipeError(f"{source} holds no data.json. Pass {HINT}.")
            raw = tar.extractfile(members[data_name]).read()
            pkg = data_name[: -len("data.json")] + "package.json"
            if pkg in members:
                version = json.loads(tar.extractfile(members[pkg]).read()).get("version")
    else:
        raise RecipeError(f"{source}: not a tarball, folder or .json file. Pass {HINT}.")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecipeError(f"{source}: data.json is not valid JSON ({err})") from None
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
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            tgz = npm_pack(f"{PACKAGE}@{VERSION}", Path(tmp), NAME, HINT)
            data, version = _load(tgz)
    else:
        data, version = _load(Path(source))
    out = write_corpus(out_dir, render(data))
    (out / "NOTICE").write_text(notice(version), encoding="utf-8")
    return out
