"""`python -m cdp_operator.cli` runs the `cdp` command."""

import sys

from .main import main

sys.exit(main())
