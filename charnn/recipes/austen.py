"""Jane Austen's six novels, from the Debian package ``r-cran-janeaustenr``.

The package keeps the novels in an R lazy-load database (``janeaustenr/data/Rdata.rdb`` with its
``Rdata.rdx`` index), one character vector per novel with one element per line of the book and
``""`` for blank lines; :mod:`charnn.recipes._rdata` reads it without R. The output is one UTF-8
``.txt`` per novel, in order of publication, lines joined with ``\\n`` and a final newline; the
hard wraps (about 70 columns) are kept exactly as stored.

    python -m charnn.recipes austen --out corpora/austen                # apt-get download
    python -m charnn.recipes austen --out corpora/austen --from X.deb   # or a local copy

``source`` may be the .deb, a folder (the unpacked .deb, an installed R library, or the CRAN
source tree with ``data/*.rda``), an ``.rdx``/``.rdb`` file, an ``.rda`` file or a tarball of
any of those. The texts are public domain; the package (MIT, Julia Silge) took them from
Project Gutenberg.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import _rdata
from ._common import RecipeError, apt_download, deb_field, deb_tar, write_corpus

NAME = "austen"
PACKAGE = "r-cran-janeaustenr"
LICENSE = "Public domain (novels, 1811-1818); extracted from r-cran-janeaustenr (MIT, (c) 2016-2017 Julia Silge)"

# R object name -> output file, in order of publication.
BOOKS = {
    "sensesensibility": "01-sense-and-sensibility.txt",  # 1811
    "prideprejudice": "02-pride-and-prejudice.txt",      # 1813
    "mansfieldpark": "03-mansfield-park.txt",            # 1814
    "emma": "04-emma.txt",                               # 1815
    "northangerabbey": "05-northanger-abbey.txt",        # 1818 (posthumous)
    "persuasion": "06-persuasion.txt",                   # 1818 (posthumous)
}
TITLES = {
    "sensesensibility": "Sense and Sensibility (1811)",
    "prideprejudice": "Pride and Prejudice (1813)",
    "mansfieldpark": "Mansfield Park (1814)",
    "emma": "Emma (1815)",
    "northangerabbey": "Northanger Abbey (1818)",
    "persuasion": "Persuasion (1818)",
}
HINT = ("the r-cran-janeaustenr .deb (`apt-get download r-cran-janeaustenr`), its unpacked folder, "
        "the janeaustenr Rdata.rdx/.rdb, or the CRAN source tarball janeaustenr_*.tar.gz")

MIT_TEXT = """\
Copyright (c) 2016-2017 Julia Silge

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

# Where the novels live, best first (paths end with these).
_LAZYLOAD_CANDIDATES = ("janeaustenr/data/Rdata.rdx", "janeaustenr/R/sysdata.rdx", "data/Rdata.rdx",
                        "R/sysdata.rdx", "Rdata.rdx", "sysdata.rdx")


def book_text(lines: list[str | None]) -> str:
    """One novel as text: lines joined with ``\\n``, a final newline (NA lines become empty)."""
    return "\n".join("" if line is None else line for line in lines) + "\n"


def quote_fraction(text: str) -> float:
    """Fraction of characters inside straight double quotes (the quote marks excluded).

    Quote state resets at each blank line, following the convention that a speech running over
    several paragraphs reopens (but does not close) its quotes at each one.
    """
    inside = 0
    for paragraph in text.split("\n\n"):
        is_open = False
        for ch in paragraph:
            if ch == '"':
                is_open = not is_open
            elif is_open:
                inside += 1
    return inside / max(len(text), 1)


def stats(folder: Path) -> dict[str, str]:
    """Figures reported by the CLI: quote fraction and curly-quote count over all novels."""
    texts = [(Path(folder) / name).read_text(encoding="utf-8") for name in BOOKS.values()
             if (Path(folder) / name).is_file()]
    whole = "".join(texts)
    quoted = sum(quote_fraction(t) * len(t) for t in texts)
    curly = sum(whole.count(c) for c in "\u201c\u201d\u2018\u2019")
    return {
        "quote_fraction": f"{quoted / max(len(whole), 1):.3f} (chars inside straight double quotes)",
        "curly_quotes": str(curly),
        "non_ascii_chars": str(sum(1 for c in whole if ord(c) > 127)),
    }


# -- reading the source ---------------------------------------------------------------------------

def _pick(names: list[str]) -> tuple[str | None, list[str]]:
    """The best lazy-load index among ``names``, else the .rda files."""
    for suffix in _LAZYLOAD_CANDIDATES:
        for name in sorted(names):
            if name.replace("\\", "/").endswith(suffix):
                return name, []
    rdas = sorted(n for n in names if n.lower().endswith((".rda", ".rdata"))
                  and Path(n).stem.split(".")[0] in BOOKS)
    return None, rdas


def _books_from(names: list[str], read: Callable[[str], bytes], where: str) -> dict[str, list[str | None]]:
    rdx, rdas = _pick(names)
    objects: dict[str, object] = {}
    if rdx is not None:
        rdb = rdx[:-4] + ".rdb"
        if rdb not in names:
            raise RecipeError(f"{where}: found {rdx} but not its {rdb}")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "x.rdx").write_bytes(read(rdx))
            (Path(tmp) / "x.rdb").write_bytes(read(rdb))
            index = _rdata.read_rdx(Path(tmp) / "x.rdx")
            wanted = [b for b in BOOKS if b in index]
            objects = _rdata.read_lazyload(Path(tmp) / "x.rdx", names=wanted)
    else:
        for name in rdas:
            objects.update(_rdata.read_rda(read(name)))
    missing = [b for b in BOOKS if b not in objects]
    if missing:
        found = f"{rdx}" if rdx else (", ".join(rdas) or "no Rdata.rdx/.rdb or .rda files")
        raise RecipeError(f"{where}: novels {', '.join(missing)} not found (looked in {found}). "
                          f"Pass {HINT}.")
    books = {}
    for key in BOOKS:
        obj = objects[key]
        if not isinstance(obj, _rdata.RObject) or obj.rtype != "character":
            raise RecipeError(f"{where}: {key} is not a character vector")
        books[key] = obj.value
    return books


def _books_from_tar(tar: tarfile.TarFile, where: str) -> dict[str, list[str | None]]:
    members = {m.name: m for m in tar.getmembers() if m.isfile()}
    return _books_from(list(members), lambda n: tar.extractfile(members[n]).read(), where)


def read_books(source: Path) -> tuple[dict[str, list[str | None]], str]:
    """(novel lines by R name, a description of the source with its version if known)."""
    source = Path(source)
    if not source.exists():
        raise RecipeError(f"{source} does not exist. Pass {HINT}.")
    if source.is_dir():
        files = {p.relative_to(source).as_posix(): p for p in source.rglob("*") if p.is_file()}
        books = _books_from(list(files), lambda n: files[n].read_bytes(), str(source))
        desc = next((p for n, p in files.items() if n.endswith("janeaustenr/DESCRIPTION") or n == "DESCRIPTION"), None)
        version = None
        if desc is not None:
            version = next((line.split(":", 1)[1].strip() for line in desc.read_text("utf-8", "replace").splitlines()
                            if line.startswith("Version:")), None)
        return books, f"janeaustenr {version}" if version else f"janeaustenr (folder {source.name})"
    suffix = source.name.lower()
    if suffix.endswith(".deb"):
        with deb_tar(source) as tar:
            books = _books_from_tar(tar, str(source))
        version = deb_field(source, "Version")
        return books, f"Debian {PACKAGE} {version}" if version else f"Debian {PACKAGE} ({source.name})"
    if suffix.endswith((".rdx", ".rdb")):
        rdx = source.with_suffix(".rdx")
        files = {"Rdata.rdx": rdx, "Rdata.rdb": source.with_suffix(".rdb")}
        return _books_from(list(files), lambda n: files[n].read_bytes(), str(source)), f"janeaustenr ({rdx.name})"
    if suffix.endswith((".rda", ".rdata")):
        return _books_from([source.name], lambda n: source.read_bytes(), str(source)), f"janeaustenr ({source.name})"
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            books = _books_from_tar(tar, str(source))
        return books, f"janeaustenr ({source.name})"
    raise RecipeError(f"{source}: not a .deb, folder, .rdx/.rdb, .rda or tarball. Pass {HINT}.")


def notice(source_desc: str) -> str:
    files = "\n".join(f"  {name}  {TITLES[key]}" for key, name in BOOKS.items())
    return f"""\
Jane Austen's six completed novels, one document per novel, in order of publication:
{files}

License: the novels are in the public domain (Jane Austen, 1775-1817; texts as transcribed by
Project Gutenberg). They were extracted, unchanged apart from joining the stored lines with
newlines, from the R package janeaustenr (https://github.com/juliasilge/janeaustenr), here
{source_desc}, whose packaging is under the MIT license:

{MIT_TEXT}
Rebuild: python -m charnn.recipes austen --out corpora/austen [--from r-cran-janeaustenr_*.deb]
"""


def build(out_dir: Path, source: Path | None = None) -> Path:
    """Write the six novels into ``out_dir`` (the corpus folder itself) and return it.

    Without ``source`` the .deb is fetched with ``apt-get download r-cran-janeaustenr``.
    """
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            deb = apt_download(PACKAGE, Path(tmp), NAME, HINT)
            books, desc = read_books(deb)
    else:
        books, desc = read_books(Path(source))
    files = {BOOKS[key]: book_text(lines) for key, lines in books.items()}
    out = write_corpus(out_dir, files)
    (out / "NOTICE").write_text(notice(desc), encoding="utf-8")
    return out
