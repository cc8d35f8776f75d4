"""Prose with URLs: Debian documentation packages, HTML turned into plain text (``debian-docs``).

By default the corpus is the *Debian Reference* (Debian ``debian-reference-en``, GPL-2+): the
package ships the book as DocBook HTML, one page per chapter, plus a plain-text rendering that
drops every link target, so the recipe converts the HTML itself (:class:`HTMLText`, on
:mod:`html.parser`) and keeps each link's URL visible after its text: ``Debian wiki
<https://wiki.debian.org/>``. Navigation bars and tables of contents are left out; preformatted
blocks (``<pre>``) keep their lines; tables become one line per row with ``|`` between cells;
list items start with ``*`` (or ``1.``); paragraphs are wrapped at 78 columns without breaking
words or URLs. One document per page, numbered in reading order (the pages' ``rel="next"``
links), under a folder named after the package.

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
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from ._common import (RecipeError, apt_fetch, deb_control, deb_stream, decode_source, documents,
                      loader_skips, safe_relpath, write_build_info)

NAME = "debian-docs"
PACKAGES = ("debian-reference-en",)
# GPL text: charnn.recipes.cache refuses to build it into the repository's corpora/ folder.
NEVER_COMMIT = True
LICENSE = "GPL-2.0-or-later (Debian Reference, (c) 2007-2013 Osamu Aoki and contributors)"
HINT = ("the debian-reference-en .deb (`apt-get download debian-reference-en`), or a folder or "
        "tarball of HTML (or .txt) documentation")
WIDTH = 78

URL_RE = re.compile(r"""https?://[^\s"'<>\\]+""")

# Elements whose whole content is left out, and div/table classes that are navigation, not prose.
SKIP_TAGS = {"head", "script", "style", "noscript", "template", "svg", "math"}
SKIP_CLASSES = {"navheader", "navfooter", "toc", "list-of-tables", "list-of-figures",
                "list-of-examples", "list-of-equations", "list-of-procedures"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
             "source", "track", "wbr"}
BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "tr", "ul", "ol", "dl",
              "li", "dt", "dd", "blockquote", "section", "article", "header", "footer", "caption",
              "thead", "tbody", "tfoot", "figure", "figcaption", "address", "main", "nav", "aside",
              "body", "html", "title", "form", "fieldset", "center", "hr", "br"}
LIST_TAGS = {"ul", "ol", "dl"}
ROW_TAGS = {"tr"}
ITEM_TAGS = {"li", "dt", "dd"}
LINK_SCHEMES = ("http://", "https://", "ftp://", "ftps://", "mailto:", "news:", "nntp://", "git://")


def count_urls(text: str) -> int:
    return len(URL_RE.findall(text))


def _norm_url(s: str) -> str:
    s = s.strip().lower()
    for prefix in ("mailto:", "https://", "http://", "ftp://", "www."):
        if s.startswith(prefix):
            s = s[len(prefix):]
    return s.rstrip("/")


class HTMLText(HTMLParser):
    """HTML to plain text, keeping the targets of absolute links visible as ``text <URL>``."""

    def __init__(self, width: int = WIDTH):
        super().__init__(convert_charrefs=True)
        self.width = width
        self.out: list[str] = []        # finished blocks, each preceded by its separator
        self.kinds: list[str] = []      # "para", "item", "row" or "pre" per block
        self.buf: list[str] = []        # inline text of the block being read
        self.stack: list[str] = []      # open elements
        self.skip_at: int | None = None  # stack depth where a skipped element opened
        self.pre = 0
        self.links: list[tuple[str | None, int]] = []  # (absolute href or None, buf index where its text starts)
        self.lists: list[list] = []     # [tag, counter] per open list
        self.bullet: str | None = None  # marker for the next flushed block (a list item just opened)
        self.in_row = 0
        self.cell_open = False
        self.new_group = False
        self.rel_next: str | None = None
        self.title: str | None = None
        self._title_buf: list[str] | None = None

    # -- parser callbacks ------------------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and (attrs.get("rel") or "").lower() == "next" and attrs.get("href"):
            self.rel_next = attrs["href"]
        if tag == "title" and self.skip_at is not None:
            self._title_buf = []
        if self.skip_at is None and (tag in SKIP_TAGS or SKIP_CLASSES & set((attrs.get("class") or "").split())):
            if tag not in VOID_TAGS:
                self.skip_at = len(self.stack)
                self.stack.append(tag)
            return
        if tag not in VOID_TAGS:
            self.stack.append(tag)
        if self.skip_at is not None:
            return
        if tag in ("td", "th"):
            if self.cell_open and "".join(self.buf).strip():
                self.buf.append(" | ")
            self.cell_open = True
            return
        if tag in BLOCK_TAGS:
            self.flush()
        if tag == "pre":
            self.pre += 1
        elif tag in LIST_TAGS:
            self.lists.append([tag, 0])
        elif tag in ITEM_TAGS:
            kind = self.lists[-1] if self.lists else ["ul", 0]
            if tag == "li" and kind[0] == "ol":
                kind[1] += 1
                self.bullet = f"{kind[1]}. "
            elif tag == "li":
                self.bullet = "* "
            elif tag == "dd":
                self.bullet = "  "
            else:
                self.bullet = ""
        elif tag == "tr":
            self.in_row += 1
            self.cell_open = False
        elif tag == "table":
            self.new_group = True
        elif tag == "a":  # every <a> is pushed, so that its end pops its own entry
            href = (attrs.get("href") or "").strip()
            self.links.append((href if href.lower().startswith(LINK_SCHEMES) else None, len(self.buf)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag not in self.stack:
            return  # stray end tag
        # Close everything opened after the matching start (unclosed <p>, <li>, ...).
        while self.stack:
            open_tag = self.stack.pop()
            self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag):
        if self.skip_at is not None:
            if tag == "title" and self._title_buf is not None:
                self.title = " ".join("".join(self._title_buf).split()) or None
                self._title_buf = None
            if len(self.stack) == self.skip_at:
                self.skip_at = None
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            if href and _norm_url("".join(self.buf[start:])) != _norm_url(href):
                self.buf.append(f" <{href}>")
            return
        if tag in ("td", "th"):
            return
        if tag in BLOCK_TAGS:
            self.flush(kind="row" if tag == "tr" else "item" if tag in ITEM_TAGS else "para")
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in LIST_TAGS and self.lists:
            self.lists.pop()
        elif tag == "tr":
            self.in_row = max(0, self.in_row - 1)
            self.cell_open = False
        elif tag == "table":
            self.new_group = True

    def handle_data(self, data):
        if self._title_buf is not None:
            self._title_buf.append(data)
        if self.skip_at is None:
            self.buf.append(data)

    # -- output ----------------------------------------------------------------------------------
    def _indent(self) -> str:
        return "  " * max(0, len(self.lists) - 1)

    def flush(self, kind: str = "para"):
        raw = "".join(self.buf)
        self.buf = []
        self.links = [(h, 0) for h, _ in self.links]
        if self.pre:
            text = raw.strip("\n").replace("\xa0", " ")
            if not text.strip():
                return
            indent = self._indent()
            self._emit("\n".join((indent + line).rstrip() for line in text.split("\n")), "pre")
            return
        text = re.sub(r"\s+", " ", raw).strip()
        if not text:
            return
        indent, bullet = self._indent(), self.bullet
        self.bullet = None
        first = indent + (bullet or "")
        rest = indent + (" " * len(bullet) if bullet else "")
        if self.width and not (self.in_row and " | " in text):  # a table row stays on one line
            block = textwrap.fill(text, self.width, initial_indent=first, subsequent_indent=rest,
                                  break_long_words=False, break_on_hyphens=False)
        else:
            block = first + text
        self._emit(block, "item" if bullet is not None else ("row" if self.in_row else kind))

    def _emit(self, block: str, kind: str):
        # Consecutive list items and rows of one table are one line apart, other blocks a blank line.
        tight = (not self.new_group and bool(self.kinds) and kind == self.kinds[-1]
                 and kind in ("item", "row"))
        self.new_group = False
        self.out.append(("\n" if tight else "\n\n") if self.out else "")
        self.out.append(block)
        self.kinds.append(kind)

    def text(self) -> str:
        self.flush()
        return "".join(self.out) + "\n" if self.out else ""


def html_to_text(html: str, width: int = WIDTH) -> tuple[str, str | None, str | None]:
    """(plain text, ``rel="next"`` href or None, <title> or None) of one HTML page."""
    parser = HTMLText(width)
    parser.feed(html)
    parser.close()
    return parser.text(), parser.rel_next, parser.title


# -- reading the source ---------------------------------------------------------------------------

def _is_html(name: str) -> bool:
    return name.lower().endswith((".html", ".htm", ".xhtml", ".html.gz", ".htm.gz"))


def _is_text(name: str) -> bool:
    return name.lower().endswith((".txt", ".txt.gz"))


def _members(source: Path) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of the HTML and text files in a .deb, tarball or folder."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink() and (_is_html(path.name) or _is_text(path.name)):
                yield path.relative_to(source).as_posix(), path.read_bytes()
        return
    if source.name.lower().endswith(".deb"):
        context = deb_stream(source)
    elif tarfile.is_tarfile(source):
        context = tarfile.open(source, "r|*")
    else:
        raise RecipeError(f"{source}: not a .deb, tarball or folder. Pass {HINT}.")
    with context as tar:
        for member in tar:
            rel = safe_relpath(member.name)
            if rel and member.isfile() and (_is_html(rel) or _is_text(rel)):
                yield rel, tar.extractfile(member).read()


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
        if loader_skips(name):
            name = f"{i:02d}-page.txt"
        docs[name] = body if body.endswith("\n") else body + "\n"
    counts["pages"] = len(docs)
    counts["format"] = "html" if html else "text"
    return docs, counts


def stats(folder: Path) -> dict[str, str]:
    """Figures reported by the CLI: URLs and URLs per MB (10^6 bytes) of the documents."""
    data = [p.read_bytes() for p in documents(folder)]
    size = sum(len(d) for d in data)
    urls = sum(count_urls(d.decode("utf-8", "replace")) for d in data)
    return {"urls": str(urls), "urls_per_mb": f"{urls / max(size, 1) * 1e6:.0f}"}


def notice(sources: list[str], width: int) -> str:
    lines = "\n".join(f"  {s}" for s in sources)
    return f"""\
Debian documentation as plain text, one document per HTML page in reading order, converted by
charnn.recipes.debian_docs (html.parser): links to absolute URLs are kept as "text <URL>",
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


def build(out_dir: Path, source: Path | None = None, packages: tuple[str, ...] = PACKAGES,
          width: int = WIDTH, non_utf8: str = "replace") -> Path:
    """Write the documents into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` each package in ``packages`` is fetched with ``apt-get download``.
    """
    t0 = time.time()
    out = Path(out_dir)
    all_docs: dict[str, str] = {}
    info: dict = {"recipe": NAME, "width": width, "packages": {}}
    descs = []

    def add(prefix: str, desc: str, files: Iterable[tuple[str, bytes]]):
        docs, counts = convert(files, width, non_utf8)
        if not docs:
            raise RecipeError(f"{desc}: no HTML or text documentation found. Pass {HINT}.")
        for name, text in docs.items():
            all_docs[f"{prefix}/{name}"] = text
        info["packages"][prefix] = {"source": desc, **counts}
        descs.append(f"{desc}: {counts['pages']} pages ({counts['format']})")

    if source is None:
        for package in packages:
            with tempfile.TemporaryDirectory() as tmp:
                deb = apt_fetch(package, Path(tmp), NAME)
                version = deb_control(deb).get("Version", "?")
                add(package, f"Debian {package} {version}", _members(deb))
    else:
        source = Path(source)
        if not source.exists():
            raise RecipeError(f"{source} does not exist. Pass {HINT}.")
        if source.name.lower().endswith(".deb"):
            control = deb_control(source)
            package = control.get("Package", source.name.split("_")[0])
            add(package, f"Debian {package} {control.get('Version', '?')} ({source.name})", _members(source))
        else:
            prefix = re.sub(r"\.(tar(\.\w+)?|tgz|txz)$", "", source.name) or "docs"
            add(prefix, f"{source.name} ({'folder' if source.is_dir() else 'tarball'})", _members(source))
    out.mkdir(parents=True, exist_ok=True)
    for name, text in all_docs.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    (out / "NOTICE").write_text(notice(descs, width), encoding="utf-8")
    size = sum(len(t.encode("utf-8")) for t in all_docs.values())
    urls = sum(count_urls(t) for t in all_docs.values())
    info.update(source="; ".join(descs), documents=len(all_docs), bytes=size, urls=urls,
                urls_per_mb=round(urls / max(size, 1) * 1e6), seconds=round(time.time() - t0, 2))
    write_build_info(out, info)
    return out
