"""tinytorch-verifier: the release guardian of the TinyTorch course.

The library API lives in focused modules (course discovery, export, validation, build,
environments, scenarios, reports); `verifier.cli` is a thin command line over them.
"""
__version__ = "0.1.0"
