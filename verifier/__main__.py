"""`python -m verifier`: the same as the `tinytorch-verifier` command (and `python -m verifier.cli`)."""
import sys

from .cli import main

sys.exit(main())
