"""Scenario: the package is really installed — from site-packages, with matching metadata,
and a consistent environment (`pip check`)."""
# scenario-timeout: 120
import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig

import tinytorch

location = os.path.realpath(tinytorch.__file__)
site_dirs = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
assert any(location.startswith(d + os.sep) for d in site_dirs), \
    f"tinytorch imported from {location}, not from this venv's site-packages {sorted(site_dirs)}"

installed = importlib.metadata.version("tinytorch")
if installed != tinytorch.__version__:
    # name the exported module that overrides the package's version, so the report can blame it
    culprits = [name for name, module in sorted(sys.modules.items()) if name.startswith("tinytorch.")
                and getattr(module, "__version__", None) == tinytorch.__version__]
    raise AssertionError(f"metadata version {installed} != tinytorch.__version__ {tinytorch.__version__}"
                         f" (set by {', '.join(culprits) or 'unknown'})")

check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
assert check.returncode == 0, f"pip check failed: {check.stdout.strip()} {check.stderr.strip()}"

print("TITO_RESULT " + json.dumps({
    "tinytorch_file": location, "version": installed,
    "numpy": importlib.metadata.version("numpy"), "pip_check": check.stdout.strip()}))
