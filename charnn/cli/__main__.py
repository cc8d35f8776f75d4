"""`python -m charnn.cli ...` is the same as `charnn ...`."""
import sys

from . import main

sys.exit(main())
