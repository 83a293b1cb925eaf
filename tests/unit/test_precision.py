"""Findings say what matters: one finding per cause (TT233 per defining cell, TT220 per distribution,
consecutive statements of one code merged), an impact that matches what a fresh venv does (TT208
degraded inside try/except ImportError, nothing in a package-import fallback), import-time vs call-time
(`when`), and the build configuration that ships no package (TT250). Each change has a case where it
must fire and a real-tree-shaped case where it must not."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

from helpers import without_eol_advisory
from validation_courses import ACTIVATIONS, LAYERS, PYPROJECT, line_of, write_layout

from verifier.checks.findings import Impact, When
from verifier.checks.validate import validate
from verifier.course.discovery import load_course

TENSOR_PY = "modules/01_tensor/tensor.py"
ACT_PY = "modules/02_activations/activations.py"
LAYERS_PY = "modules/03_layers/layers.py"


def check(tmp_path: Path, changes: Dict[str, Optional[str]]):
    root = write_layout(tmp_path / "course", changes)
    return root, validate(load_course(root))


def of(report, code):
    return [f for f in report.findings if f.code == code]


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- TT233 grouped per defining cell

HIDDEN_IMPORTS = "# %%\nfrom typing import List, Dict\nimport time\n\n"


def test_tt233_one_finding_per_defining_cell_with_every_use(tmp_path):
    act = replace(ACTIVATIONS, "# %%\n#| export\n", HIDDEN_IMPORTS + "# %%\n#| export\n")
    act = replace(act, "    def forward(self, x):\n",
                  "    def forward(self, x) -> List:\n        t = time.time()\n        d: Dict = {}\n")
    root, report = check(tmp_path, {ACT_PY: act})
    (finding,) = of(report, "TT233")
    assert finding.line == line_of(root / ACT_PY, "from typing import List, Dict")
    assert "`List`" in finding.issue and "`time`" in finding.issue and "`Dict`" not in finding.issue  # an
    # annotation inside a function body is never evaluated
    assert "#| export" in finding.fix and "tinytorch.core.activations" in finding.fix
    assert {loc.what for loc in finding.locations} == {"List", "time"}
    # the return annotation is evaluated when `def` runs, i.e. at import
    assert finding.when is When.IMPORT
    assert {loc.when for loc in finding.locations} == {When.IMPORT, When.CALL}
    assert [loc.scope for loc in finding.locations if loc.when is When.CALL] == ["ReLU.forward"]
    data = json.loads(report.render_json())
    (entry,) = [f for f in data["findings"] if f["code"] == "TT233"]
    assert entry["when"] == "import" and len(entry["locations"]) == 2
    assert data["install_breaking_by_when"]["import"] >= 1


def test_tt233_call_time_only_in_function_bodies_and_lazy_annotations(tmp_path):
    act = replace(ACTIVATIONS, "# %%\n#| export\nimport numpy", HIDDEN_IMPORTS + "# %%\n#| export\n"
                  "from __future__ import annotations\nimport numpy")
    act = replace(act, "    def forward(self, x):\n", "    def forward(self, x: List) -> Dict:\n"
                                                      "        time.sleep(0)\n")
    _, report = check(tmp_path, {ACT_PY: act})
    (finding,) = of(report, "TT233")
    assert finding.when is When.CALL and "ReLU.forward() is called" in finding.issue
    assert [loc.what for loc in finding.locations] == ["time"]
    assert "breaks a call of ReLU.forward()" in report.render_text()


def test_tt233_import_time_in_class_bodies_defaults_and_decorators(tmp_path):
    act = replace(ACTIVATIONS, "# %%\n#| export\n", "# %%\nLIMIT = 3\ndef deco(f):\n    return f\n\n"
                                                    "# %%\n#| export\n")
    act = replace(act, "    def forward(self, x):\n",
                  "    size = LIMIT\n\n    @deco\n    def forward(self, x, n=LIMIT):\n")
    _, report = check(tmp_path, {ACT_PY: act})
    (finding,) = of(report, "TT233")
    assert finding.when is When.IMPORT
    assert {loc.what for loc in finding.locations} == {"LIMIT", "deco"}
    assert all(loc.when is When.IMPORT for loc in finding.locations)


def test_tt233_not_in_real_tree_shapes(tmp_path):
    # the classic upstream shape: imports repeated in the exported cell; a name used only in the
    # dev-time fallback of a package import; a use guarded by `if __name__ == "__main__"` is call-time
    act = replace(ACTIVATIONS, "# %%\n#| export\n", HIDDEN_IMPORTS + "# %%\n#| export\n"
                  "from typing import List\nimport time\n"
                  "try:\n    from tinytorch.core.tensor import Tensor as T\nexcept ImportError:\n"
                  "    T = Dict\n")
    act = replace(act, "    def forward(self, x):\n", "    def forward(self, x) -> List:\n        time.time()\n")
    _, report = check(tmp_path, {ACT_PY: act})
    assert not of(report, "TT233"), report.render_text()


# --------------------------------------------------------------------------- TT220 one per distribution

def test_tt220_one_finding_per_undeclared_distribution(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport matplotlib.pyplot as plt\n")
    layers = replace(LAYERS, "from tinytorch.core.tensor import Tensor\n",
                     "import matplotlib.pyplot as plt\nfrom tinytorch.core.tensor import Tensor\n")
    root, report = check(tmp_path, {ACT_PY: act, LAYERS_PY: layers})
    (finding,) = of(report, "TT220")
    assert (finding.module, finding.path, finding.line) == ("02_activations", ACT_PY,
                                                            line_of(root / ACT_PY, "import matplotlib"))
    assert "02_activations, 03_layers" in finding.issue and finding.related == ("03_layers",)
    assert '"matplotlib"' in finding.fix and "pyproject.toml (line" in finding.fix
    assert [(loc.module, loc.when) for loc in finding.locations] == [("02_activations", When.IMPORT),
                                                                      ("03_layers", When.IMPORT)]
    assert {loc.target for loc in finding.locations} == {"tinytorch.core.activations", "tinytorch.core.layers"}


def test_tt220_not_for_declared_or_fallback_imports(tmp_path):
    pyproject = replace(PYPROJECT, 'dependencies = ["numpy>=1.22"]', 'dependencies = ["numpy>=1.22", "matplotlib"]')
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport matplotlib.pyplot as plt\n"
                  "try:\n    from tinytorch.core.tensor import Tensor as T\nexcept ImportError:\n    import psutil\n")
    _, report = check(tmp_path, {"pyproject.toml": pyproject, ACT_PY: act})
    assert not of(report, "TT220") and not of(report, "TT222"), report.render_text()


# --------------------------------------------------------------------------- consecutive statements merged

def test_consecutive_in_tree_imports_are_one_finding(tmp_path):
    act = replace(ACTIVATIONS, "from tinytorch.core.tensor import Tensor\n",
                  "from tensor_dev import Tensor\nfrom layers_dev import Linear\n")
    root, report = check(tmp_path, {ACT_PY: act})
    (finding,) = of(report, "TT211")
    assert finding.line == line_of(root / ACT_PY, "from tensor_dev import")
    assert "2 statements on lines" in finding.issue and "`from layers_dev import Linear`" in finding.issue
    assert [loc.line for loc in finding.locations] == [finding.line, finding.line + 1]
    assert finding.when is When.IMPORT


def test_non_consecutive_statements_stay_separate(tmp_path):
    act = replace(ACTIVATIONS, "from tinytorch.core.tensor import Tensor\n",
                  "from tensor_dev import Tensor\nimport os\nfrom layers_dev import Linear\n")
    _, report = check(tmp_path, {ACT_PY: act})
    assert len(of(report, "TT211")) == 2


# --------------------------------------------------------------------------- impact: degraded, fallbacks

def test_failing_import_inside_try_is_degraded_not_install_breaking(tmp_path):
    layers = replace(LAYERS, "from tinytorch.core.activations import ReLU\n",
                     "from tinytorch.core.activations import ReLU\n"
                     "try:\n    from tinytorch.core.networks import Sequential as S\nexcept ImportError:\n"
                     "    S = None\n")
    root, report = check(tmp_path, {LAYERS_PY: layers})
    (finding,) = of(report, "TT208")
    assert finding.line == line_of(root / LAYERS_PY, "core.networks import")
    assert finding.impact is Impact.DEGRADED and not of(report, "TT206")
    assert report.ok  # a warning: the package imports
    assert json.loads(report.render_json())["counts_by_impact"]["degraded"] == 1


def test_nothing_inside_a_package_import_fallback(tmp_path):
    # the upstream 04_layers shape: a nested try inside the fallback of a package import
    layers = replace(LAYERS, "from tinytorch.core.tensor import Tensor\nfrom tinytorch.core.activations import ReLU\n",
                     "import os, sys\n"
                     "try:\n    from tinytorch.core.tensor import Tensor\n"
                     "    from tinytorch.core.activations import ReLU\n"
                     "except ImportError:\n    sys.path.append(os.path.join('..', '01_tensor'))\n"
                     "    try:\n        from tensor_dev import Tensor\n    except ImportError:\n"
                     "        from ..tensor.tensor_dev import Tensor\n        from .networks import Missing\n")
    _, report = check(tmp_path, {LAYERS_PY: layers})
    found = {f.code for f in report.findings}
    assert not found & {"TT206", "TT207", "TT208", "TT210", "TT211"}, report.render_text()


def test_unguarded_missing_module_in_a_function_is_call_time(tmp_path):
    layers = replace(LAYERS, "        self.shape = (n_in, n_out)\n",
                     "        self.shape = (n_in, n_out)\n\n    def grow(self):\n"
                     "        from tinytorch.core.networks import Sequential\n")
    _, report = check(tmp_path, {LAYERS_PY: layers})
    (finding,) = of(report, "TT206")
    assert finding.impact is Impact.INSTALL_BREAKING and finding.when is When.CALL


# --------------------------------------------------------------------------- TT250 packaging

PLACEHOLDER = PYPROJECT + """
[tool.setuptools.packages.find]
where = ["."]
include = ["tinytorch_placeholder*"]

[tool.setuptools.package-dir]
tinytorch = "tinytorch_placeholder"
"""


def test_tt250_placeholder_configuration_ships_no_package(tmp_path):
    root, report = check(tmp_path, {"pyproject.toml": PLACEHOLDER})
    (finding,) = of(report, "TT250")
    assert (finding.path, finding.line) == ("pyproject.toml", line_of(root / "pyproject.toml", "include = "))
    assert finding.impact is Impact.INSTALL_BREAKING and finding.when is When.IMPORT
    assert any("package-dir" in d for d in finding.details)
    assert "tinytorch.core.layers" in {loc.target for loc in finding.locations}


def test_tt250_explicit_lists_excludes_where_and_package_dir(tmp_path):
    cases = {
        "list": '\n[tool.setuptools]\npackages = ["tito", "tito.commands"]\n',
        "exclude": '\n[tool.setuptools.packages.find]\ninclude = ["*"]\nexclude = ["tinytorch*"]\n',
        "where": '\n[tool.setuptools.packages.find]\nwhere = ["src"]\ninclude = ["tinytorch*"]\n',
        "package-dir": '\n[tool.setuptools.package-dir]\ntinytorch = "build/tinytorch"\n',
    }
    for name, extra in cases.items():
        _, report = check(tmp_path / name, {"pyproject.toml": PYPROJECT + extra})
        assert len(of(report, "TT250")) == 1, (name, report.render_text())


def test_tt250_not_for_real_configurations(tmp_path):
    cases = {
        # 52e1cf6f upstream: where ".", include the package and the CLI
        "upstream": '\n[tool.setuptools.packages.find]\nwhere = ["."]\ninclude = ["tinytorch*", "tito*"]\n'
                    'exclude = ["tests*", "modules*", "site*", "docs*"]\n',
        "auto-discovery": "",
        "listed": '\n[tool.setuptools]\npackages = ["tinytorch", "tinytorch.core"]\n',
        "src-layout-elsewhere": '\n[tool.setuptools.package-dir]\n"" = "."\n',
    }
    for name, extra in cases.items():
        _, report = check(tmp_path / name, {"pyproject.toml": PYPROJECT + extra})
        assert not of(report, "TT250"), (name, report.render_text())
    hatch = PLACEHOLDER.replace('build-backend = "setuptools.build_meta"', 'build-backend = "hatchling.build"')
    _, report = check(tmp_path / "hatch", {"pyproject.toml": hatch})
    assert not of(report, "TT250")


def test_embedded_course_still_clean():
    report = validate(load_course(Path(__file__).resolve().parents[2] / "course"))
    assert without_eol_advisory(report.findings) == [], report.render_text()


# --------------------------------------------------------------------------- when, for line-located checks

def test_when_of_line_located_findings(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport imp\n")
    act = replace(act, "    def forward(self, x):\n", "    def forward(self, x):\n        open('data/w.csv')\n")
    _, report = check(tmp_path, {ACT_PY: act})
    (removed,) = of(report, "TT234")
    (read,) = of(report, "TT212")
    assert removed.when is When.IMPORT and removed.breaks() == "breaks `import tinytorch.core.activations`"
    assert read.when is When.CALL and read.breaks() == "breaks a call of ReLU.forward()"


def test_removed_stdlib_module_in_a_package_import_fallback_is_no_finding(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\n"
                  "try:\n    from tinytorch.core.tensor import Tensor as T\nexcept ImportError:\n    import imp\n")
    _, report = check(tmp_path, {ACT_PY: act})
    assert not of(report, "TT234"), report.render_text()
