"""Prose with URLs: Debian documentation packages, HTML turned into plain text (``debian-docs``).

By default the corpus is the *Debian Reference* (Debian ``debian-reference-en``, GPL-2+): the
package ships the book as DocBook HTML, one page per chapter, plus a plain-text rendering that
drops every link target, so the recipe converts the HTML itself (:mod:`charnn.recipes.html_text`,
which says why no HTML-to-text package does) and keeps each link's URL visible after its text:
``Debian wiki <https://wiki.debian.org/>``. One document per page, numbered in reading order
(the pages' ``rel="next"`` links), under a folder named after the package.

    charnn corpus build debian-docs                          # apt-get download debian-reference-en
    charnn corpus build debian-docs --from X.deb|DIR|X.tar.gz

``source`` may be a .deb, a folder or a tarball; in each, the ``.html``/``.htm`` files (also
gzipped) are converted, and where there are none, ``.txt``/``.txt.gz`` files are taken as they are.
GPL text: built on demand into a local cache, never committed.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import time
from collections.abc import Iterable
from pathlib import Path

from ..corpus import is_document
from . import RecipeError
from .documents import DocumentWriter, count_urls, decode_source, url_stats, write_build_info
from .html_text import WIDTH, html_to_text
from .sources import deb_control, recipe_input, source_files

NAME = "debian-docs"
PACKAGES = ("debian-reference-en",)
# GPL text: charnn.recipes.cache refuses to build it into the package's corpora/ folder.
NEVER_COMMIT = True
LICENSE = "GPL-2.0-or-later (Debian Reference, (c) 2007-2013 Osamu Aoki and contributors)"
HINT = ("the debian-reference-en .deb (`apt-get download debian-reference-en`), or a folder or "
        "tarball of HTML (or .txt) documentation")


# -- reading the source ---------------------------------------------------------------------------

def _is_html(name: str) -> bool:
    return name.lower().endswith((".html", ".htm", ".xhtml", ".html.gz", ".htm.gz"))


def _is_text(name: str) -> bool:
    return name.lower().endswith((".txt", ".txt.gz"))


def _is_page(rel: str) -> bool:
    return _is_html(rel) or _is_text(rel)


def _reading_order(pages: dict[str, tuple[str, str | None]]) -> list[str]:
    """Page names in reading order: follow the ``rel="next"`` chain from the page nothing points to."""
    nexts = {}
    for name, (_, nxt) in pages.items():
        if nxt and "://" not in nxt:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), nxt.split("#")[0]))
            if target in pages and target != name:
                nexts[name] = target
    pointed = set(nexts.values())
    order, seen = [], set()
    for start in sorted(n for n in pages if n not in pointed):
        name = start
        while name is not None and name not in seen:
            order.append(name)
            seen.add(name)
            name = nexts.get(name)
    order += sorted(n for n in pages if n not in seen)
    return order


def _doc_name(rel: str) -> str:
    base = posixpath.basename(rel)
    for suffix in (".gz", ".html", ".htm", ".xhtml", ".txt"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
    base = base.removesuffix(".en") or "page"
    return base


def convert(files: Iterable[tuple[str, bytes]], width: int = WIDTH, non_utf8: str = "replace") -> tuple[dict[str, str], dict]:
    """The documents (``NN-name.txt`` -> text) of one package or folder, and counts."""
    html, texts, counts = {}, {}, {"pages": 0, "non_utf8": 0, "nul": 0, "empty": 0}
    for rel, data in files:
        if rel.lower().endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                continue
        text, status = decode_source(data, non_utf8)
        if text is None:
            counts["nul" if status == "nul" else "non_utf8"] += 1
            continue
        counts["non_utf8"] += status != "ok"
        (html if _is_html(rel) else texts)[rel] = text
    pages: dict[str, tuple[str, str | None]] = {}
    if html:
        for rel, page in html.items():
            body, nxt, _title = html_to_text(page, width)
            pages[rel] = (body, nxt)
    else:
        pages = {rel: (t.replace("\r\n", "\n"), None) for rel, t in texts.items()}
    docs = {}
    for i, rel in enumerate(_reading_order(pages)):
        body = pages[rel][0]
        if not body.strip():
            counts["empty"] += 1
            continue
        name = f"{i:02d}-{_doc_name(rel)}.txt"
        if not is_document(name):
            name = f"{i:02d}-page.txt"
        docs[name] = body if body.endswith("\n") else body + "\n"
    counts["pages"] = len(docs)
    counts["format"] = "html" if html else "text"
    return docs, counts


stats = url_stats  # URLs and URLs per MB, for the CLI


def notice(sources: list[str], width: int) -> str:
    lines = "\n".join(f"  {s}" for s in sources)
    return f"""\
Debian documentation as plain text, one document per HTML page in reading order, converted by
charnn.recipes.html_text (html.parser): links to absolute URLs are kept as "text <URL>",
navigation bars and tables of contents are left out, paragraphs wrapped at {width or 'no'} columns.

Sources:
{lines}

License: {LICENSE}.
The Debian Reference may be used under the terms of the GNU General Public License version 2 or
later (see /usr/share/common-licenses/GPL-2 on a Debian system, or
https://www.gnu.org/licenses/old-licenses/gpl-2.0.html). This folder is built on demand and must
not be committed to the charnn repository or redistributed without that license.

Rebuild: charnn corpus build debian-docs [--from debian-reference-en_*.deb]
"""


def _describe(path: Path, fetched: bool) -> tuple[str, str]:
    """(the folder its documents go in, a description) of one input: a .deb, a folder or a tarball."""
    if path.name.lower().endswith(".deb"):
        control = deb_control(path)
        package = control.get("Package", path.name.split("_")[0])
        return package, f"Debian {package} {control.get('Version', '?')}" + ("" if fetched else f" ({path.name})")
    prefix = re.sub(r"\.(tar(\.\w+)?|tgz|txz)$", "", path.name)
    return (prefix if prefix and is_document(prefix) else "docs"), \
        f"{path.name} ({'folder' if path.is_dir() else 'tarball'})"


def build(out_dir: Path, source: Path | None = None, packages: tuple[str, ...] = PACKAGES,
          width: int = WIDTH, non_utf8: str = "replace") -> Path:
    """Write the documents into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` each package in ``packages`` is fetched with ``apt-get download``.
    """
    t0 = time.time()
    writer = DocumentWriter(out_dir)
    info: dict = {"recipe": NAME, "width": width, "packages": {}}
    descs, urls = [], 0
    for package in (packages if source is None else ("",)):  # a given source is read once, as it is
        with recipe_input(NAME, source, "apt", package, HINT) as path:
            prefix, desc = _describe(path, fetched=source is None)
            docs, counts = convert(source_files(path, _is_page, HINT), width, non_utf8)
        if not docs:
            raise RecipeError(f"{desc}: no HTML or text documentation found. Pass {HINT}.")
        for name, text in docs.items():
            writer.add_text(f"{prefix}/{name}", text)
            urls += count_urls(text)
        info["packages"][prefix] = {"source": desc, **counts}
        descs.append(f"{desc}: {counts['pages']} pages ({counts['format']})")
    writer.add_note("NOTICE", notice(descs, width))
    size = writer.counts()["bytes"]
    info.update(source="; ".join(descs), documents=len(writer.sizes), bytes=size, urls=urls,
                urls_per_mb=round(urls / max(size, 1) * 1e6), seconds=round(time.time() - t0, 2))
    write_build_info(out_dir, info)
    return Path(out_dir)
