"""`tinytorch-verifier`: the command line. Argument parsing, exit codes and error text only; the work is done
by the library packages beside this one."""
from .main import main

__all__ = ["main"]
