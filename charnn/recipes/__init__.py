"""Recipes that build corpora reproducibly from registry packages or local copies of them.

Each recipe module exposes ``build(out_dir, source=None, **options) -> Path``: it writes the corpus
documents and a NOTICE (source, version, license) into ``out_dir``, the corpus folder itself, and
returns it. Without ``source`` it fetches its input with the ordinary client (``apt-get download``
or ``npm pack``, :mod:`charnn.recipes.sources`) into a temporary folder; with ``source`` it reads
a local .deb / .tgz / unpacked copy. Which files become documents is :func:`charnn.corpus.is_document`
and what a recipe keeps of its source files is :class:`charnn.recipes.documents.DocumentWriter`.

The one command that builds them is ``charnn corpus build`` (:mod:`charnn.recipes.cache` makes
each build atomic and records a manifest); ``python -m charnn.recipes`` forwards to it:

    charnn corpus build austen --out corpora/austen [--from PATH]
    charnn corpus build mdn-bcd --out corpora/mdn-bcd [--from PATH]
    charnn corpus build linux|python-stdlib|debian-docs [--from PATH]   # into the cache

Recipes may take keyword options after ``source`` (``subsystems=`` for linux, ``include_tests=``
for python-stdlib, ``non_utf8=``); ``charnn corpus build`` passes them and names the cache folder
after the non-default ones.

Only permissively licensed corpora are committed under ``corpora/``; GPL sources (the Linux
kernel, Debian documentation) are built on demand and never committed. See corpora/README.md.
"""

# Recipe name (also the folder name under corpora/) -> module.
RECIPES = {
    "austen": "charnn.recipes.austen",
    "mdn-bcd": "charnn.recipes.mdn",
    # Built on demand into the cache (charnn.recipes.cache), never committed:
    "linux": "charnn.recipes.linux",                  # GPL-2.0
    "python-stdlib": "charnn.recipes.python_stdlib",  # PSF-2.0
    "debian-docs": "charnn.recipes.debian_docs",      # GPL-2.0+
}


class RecipeError(RuntimeError):
    """A recipe that cannot get or read its input; the message says what to do."""
