"""Jane Austen's six novels, from the Debian package ``r-cran-janeaustenr``.

The package keeps the novels in an R lazy-load database (``janeaustenr/data/Rdata.rdb`` with its
``Rdata.rdx`` index), one character vector per novel with one element per line of the book and
``""`` for blank lines; :mod:`charnn.recipes.lazyload` reads it without R (with the ``rdata``
package, charnn's ``recipes`` extra). The output is one UTF-8 ``.txt`` per novel, in order of
publication, lines joined with ``\\n`` and a final newline; the hard wraps (about 70 columns) are
kept exactly as stored.

    charnn corpus build austen --out corpora/austen                # apt-get download
    charnn corpus build austen --out corpora/austen --from X.deb   # or a local copy

``source`` may be the .deb, a folder (the unpacked .deb, an installed R library, or the CRAN
source tree with ``data/*.rda``), an ``.rdx``/``.rdb`` file, an ``.rda`` file or a tarball of
any of those. The texts are public domain; the package (MIT, Julia Silge) took them from
Project Gutenberg.
"""

from __future__ import annotations

from pathlib import Path

from . import RecipeError, lazyload
from .documents import DocumentWriter
from .sources import deb_control, recipe_input, source_files

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

def _wanted(rel: str) -> bool:
    """Files of a source that may hold the novels or the package version."""
    return rel.lower().endswith((".rdx", ".rdb", ".rda", ".rdata")) or rel.split("/")[-1] == "DESCRIPTION"


def _pick(names: list[str]) -> tuple[str | None, list[str]]:
    """The best lazy-load index among ``names``, else the .rda files."""
    for suffix in _LAZYLOAD_CANDIDATES:
        for name in sorted(names):
            if name.endswith(suffix):
                return name, []
    rdas = sorted(n for n in names if n.lower().endswith((".rda", ".rdata"))
                  and Path(n).stem.split(".")[0] in BOOKS)
    return None, rdas


def _objects(files: dict[str, bytes], where: str) -> tuple[dict, str]:
    """(R objects by name, where they were looked for) from the files of a source (relative path -> bytes)."""
    rdx, rdas = _pick(list(files))
    if rdx is not None:
        rdb = rdx[:-4] + ".rdb"
        if rdb not in files:
            raise RecipeError(f"{where}: found {rdx} but not its {rdb}")
        return lazyload.read_lazyload(files[rdx], files[rdb], list(BOOKS), f"{where}: {rdx}", f"{where}: {rdb}"), rdx
    objects = {}
    for name in rdas:
        objects.update(lazyload.read_rda(files[name], f"{where}: {name}"))
    return objects, ", ".join(rdas) or "no Rdata.rdx/.rdb or .rda files"


def _books(objects: dict, where: str, looked_in: str) -> dict[str, list[str | None]]:
    """The novels' lines, checked: all six present, each a character vector."""
    missing = [b for b in BOOKS if b not in objects]
    if missing:
        raise RecipeError(f"{where}: novels {', '.join(missing)} not found (looked in {looked_in}). Pass {HINT}.")
    books = {key: lazyload.character_vector(objects[key]) for key in BOOKS}
    wrong = [key for key, lines in books.items() if lines is None]
    if wrong:
        raise RecipeError(f"{where}: {', '.join(wrong)} not a character vector (one line per element). Pass {HINT}.")
    return books


def _description_version(files: dict[str, bytes]) -> str | None:
    """The ``Version:`` of the package's DESCRIPTION among ``files``, if there is one."""
    name = next((n for n in sorted(files, key=len) if n == "DESCRIPTION" or n.endswith("janeaustenr/DESCRIPTION")), None)
    if name is None:
        return None
    text = files[name].decode("utf-8", "replace")
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Version:")), None)


def read_books(source: Path) -> tuple[dict[str, list[str | None]], str]:
    """(novel lines by R name, a description of the source with its version if known)."""
    source = Path(source)
    suffix = source.name.lower()
    if suffix.endswith((".rdx", ".rdb")):
        rdx, rdb = source.with_suffix(".rdx"), source.with_suffix(".rdb")
        if not (rdx.is_file() and rdb.is_file()):
            raise RecipeError(f"{source}: a lazy-load database needs both {rdx.name} and {rdb.name} "
                              f"side by side. Pass {HINT}.")
        objects = lazyload.read_lazyload(rdx.read_bytes(), rdb.read_bytes(), list(BOOKS), str(rdx), str(rdb))
        return _books(objects, str(source), rdx.name), f"janeaustenr ({rdx.name})"
    if suffix.endswith((".rda", ".rdata")):
        objects = lazyload.read_rda(source.read_bytes(), str(source))
        return _books(objects, str(source), source.name), f"janeaustenr ({source.name})"
    files = dict(source_files(source, _wanted, HINT))
    objects, looked_in = _objects(files, str(source))
    books = _books(objects, str(source), looked_in)
    if suffix.endswith(".deb"):
        version = deb_control(source).get("Version")
        return books, f"Debian {PACKAGE} {version}" if version else f"Debian {PACKAGE} ({source.name})"
    version = _description_version(files)
    return books, f"janeaustenr {version}" if version else f"janeaustenr ({source.name})"


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
    with recipe_input(NAME, source, "apt", PACKAGE, HINT) as path:
        books, desc = read_books(path)
    writer = DocumentWriter(out_dir)
    for key, lines in books.items():
        writer.add_text(BOOKS[key], book_text(lines))
    writer.add_note("NOTICE", notice(desc))
    return Path(out_dir)
