"""``python -m charnn.recipes NAME [options]`` is ``charnn corpus build NAME [options]``.

The bundled corpora's NOTICE files name this spelling, so it stays; the command is one.
"""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["corpus", "build", *sys.argv[1:]]))
