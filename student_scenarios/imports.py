"""Scenario: every exported module imports from the installed package.

- `import tinytorch` and `from tinytorch import *` work (with whatever __init__ the course ships);
- every module under tinytorch/ imports;
- every name a module promises (module.yaml `components`, recorded in the package's
  metadata by the exporter as `tinytorch._components`) is importable from its module.
"""
# scenario-timeout: 120
import importlib
import json
import pkgutil
import sys
import time

start = time.perf_counter()
import tinytorch  # noqa: E402

namespace = {}
exec("from tinytorch import *", namespace)
# how many names depends on the package __init__ the course ships (Course.package_init): nbdev's
# holds only __version__, a star-import one every module's names; either way it must import
star_names = [n for n in namespace if not n.startswith("__")]

modules = [info.name for info in pkgutil.walk_packages(tinytorch.__path__, prefix="tinytorch.")]
broken = {}
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:  # every failure is reported, not only the first
        broken[name] = f"{type(exc).__name__}: {exc}"
assert not broken, f"modules that fail to import: {broken}"

missing = []
components = getattr(tinytorch, "_components", {})
for module_name, names in components.items():
    module = importlib.import_module(module_name)
    missing += [f"{module_name}.{n}" for n in names if not hasattr(module, n)]
assert not missing, f"promised components missing: {missing}"

print("TITO_RESULT " + json.dumps({
    "modules": len(modules), "star_names": len(star_names),
    "components_checked": sum(len(v) for v in components.values()),
    "python": sys.version.split()[0], "seconds": round(time.perf_counter() - start, 3)}))
