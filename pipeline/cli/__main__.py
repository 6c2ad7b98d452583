"""`python -m pipeline.cli`: the same as the `wess` command."""
import sys

from .main import main

sys.exit(main())
