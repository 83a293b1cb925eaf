"""`python -m verifier.cli`: the same as the `tinytorch-verifier` command."""
import sys

from .main import main

sys.exit(main())
