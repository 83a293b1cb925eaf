"""`python -m verifier.cli`: the same as `tito`."""
import sys

from .main import main

sys.exit(main())
