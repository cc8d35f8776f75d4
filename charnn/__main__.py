"""`python -m charnn ...` is the same as `charnn ...` (what `torchrun -m charnn train ...` runs)."""
import sys

from .cli import main

sys.exit(main())
