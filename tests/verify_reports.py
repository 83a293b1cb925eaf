"""verify.json files for the tests of the commands that read them (status, aggregate, compare): a
report of one CI job, as `tinytorch-verifier verify` writes it, with a finding and a stage detail that hold
non-ASCII text, written with the verifier's own serialiser."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Sequence

from verifier.findingmodel import Finding, Location, When
from verifier.results import Attribution, PythonResult, StageResult, VerifyResult

PASS = "passed"
WHEEL = "a331237774eb010c83f8cb779d1f0e2f9a6ad0604296d69df3281c9f34181518"


def job_report(pythons: Sequence[str] = ("3.12",), course_name: str = "tinytorch", version: str = "0.1.0",
               wheel: str = WHEEL, platform: str = "linux-x86_64", latest: bool = False,
               failed: str = "") -> Dict[str, Any]:
    """The JSON of one job's verify: every stage passed, except the stage named `failed` (with a
    non-ASCII detail and the module it blames)."""
    result = VerifyResult("/home/runner/work/course", version, list(pythons), strict=True,
                          started="2026-12-06T00:00:00+00:00", seconds=42.0)
    result.stages = [StageResult("export", PASS), StageResult("validate", PASS, figures={"modules": 2}),
                     StageResult("build", PASS)]
    # a warning (TT208: the installed package runs on a fallback), so it does not block the release
    result.findings = [Finding("TT208", "01_café", "modules/01_café/café.py", 3, "naïve import of tinytorch.core.模块",
                               "make the import resolve in the installed package", locations=(
                                   Location("01_café", "modules/01_café/café.py", 3, what="import 模块",
                                            when=When.IMPORT, target="tinytorch.core.café"),))]
    result.artifacts = [{"file": "tinytorch-0.1.0-py3-none-any.whl", "bytes": 100, "sha256": "0" * 64}]
    for version_ in pythons:
        stages = [StageResult(name, PASS, 1.0, detail="ok") for name in ("venv", "install", "imports")]
        if failed:
            stages.append(StageResult(failed, "failed", 1.0, detail="AssertionError: résumé ≠ 模块",
                                      attribution=Attribution("01_café", "modules/01_café/café.py", 3)))
        result.pythons.append(PythonResult(version_, full_version=f"{version_}.1", numpy_version="2.0.2",
                                           stages=stages))
    data = result.to_json()
    # what says which release and which job the report is of (set as JSON: reports written before
    # these fields existed read the same way)
    data.update(course_name=course_name, wheel_content_sha256=wheel, platform=platform, latest=latest)
    return data


def write_report(folder: Path, data: Dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "verify.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
