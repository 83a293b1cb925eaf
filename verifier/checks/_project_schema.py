"""The [project] table of the course's pyproject.toml against the schema setuptools validates it with
before a build (TT010): validate-pyproject, the library setuptools vendors. `packaging` accepts some
values the build refuses (`requires-python = ">=3.9,,<4"`); this finds them statically, at the key's
line, before a build fails on them. Only [project] is checked ([tool.*] tables belong to their tools).
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..course.config import PYPROJECT_LIMIT, toml_key_line
from ..course.files import read_course_text_or_none
from .context import CheckContext, Emitter
from .findings import COURSE, Finding

MAX_ERRORS = 20  # the schema reports one error at a time; each is removed and the table checked again


def _validator() -> Any:
    from validate_pyproject import api

    formats = dict(api.FORMAT_FUNCTIONS)
    # trove classifiers: validate-pyproject would download PyPI's list when the trove-classifiers
    # package is absent; the verifier never goes to the network for a static check (Python
    # classifiers are checked against requires-python by TT235)
    formats["trove-classifier"] = lambda value: True
    return api.Validator(plugins=[], format_validators=formats)


def _offending_key(name: str, message: str, project: Dict[str, Any]) -> Optional[str]:
    """The top-level [project] key an error is about: `project.requires-python` -> requires-python;
    `project.dependencies[0]` -> dependencies; `project` must not contain {'foo'} -> foo."""
    path = name.strip("`")
    if path.startswith("project."):
        key = re.split(r"[.\[]", path[len("project."):], maxsplit=1)[0]
        return key if key in project else None
    extra = re.search(r"must not contain \{'([^']+)'", message)
    return extra[1] if extra and extra[1] in project else None


SCHEMA_CACHE_FORMAT = 1  # bump when what project_schema_errors returns changes


def _canonical(value: Any) -> str:
    """The table as the schema sees it, as text: JSON with sorted keys; a TOML date or time keeps its
    type in the text, so that it never shares a key with the string of the same digits."""
    return json.dumps(value, sort_keys=True, default=lambda other: f"<{type(other).__name__}>{other}")


def project_schema_errors(project: Dict[str, Any]) -> List[Tuple[Optional[str], str]]:
    """(key or None, message) for every error validate-pyproject finds in a [project] table.

    Importing validate-pyproject and building its validator is most of this check's cost (0.1–0.3 s):
    the answer depends only on the table and on the installed validate-pyproject and packaging (its
    SPDX and version rules), so it is kept in the cache folder under their hash and a [project] that did
    not change is never validated twice — a pre-commit hook or an editor pays the import once."""
    from ..cache import installed_fingerprint, load_result, result_file, store_result

    libraries = [installed_fingerprint(name) for name in ("validate_pyproject", "packaging")]
    known = [fingerprint for fingerprint in libraries if fingerprint is not None]
    cache = (result_file("project-schema", str(SCHEMA_CACHE_FORMAT), *known, _canonical(project))
             if len(known) == len(libraries) else None)
    cached = load_result(cache) if cache is not None else None
    if isinstance(cached, list):
        return [(key, message) for key, message in cached]
    errors = _schema_errors(project)
    if cache is not None:
        store_result(cache, errors)
    return errors


def _schema_errors(project: Dict[str, Any]) -> List[Tuple[Optional[str], str]]:
    from validate_pyproject.error_reporting import ValidationError

    validator = _validator()
    table = copy.deepcopy(project)
    errors: List[Tuple[Optional[str], str]] = []
    for _ in range(MAX_ERRORS):
        try:
            validator({"project": table})
            break
        except ValidationError as exc:
            key = _offending_key(exc.name or "", exc.message, table)
            errors.append((key, exc.message))
            if key is None:
                break  # nothing to remove: the rest of the table cannot be checked past this error
            del table[key]
        except Exception as exc:  # noqa: BLE001 — validate-pyproject's own extra checks raise their own kinds
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            errors.append((None, message))
            break
    return errors


def check_project_schema(ctx: CheckContext, out: Emitter) -> None:
    course = ctx.course
    project = course.pyproject.get("project") if isinstance(course.pyproject, dict) else None
    if not isinstance(project, dict) or course.pyproject_path is None:
        return  # settings.ini course, or no [project]: nothing setuptools would read
    text = read_course_text_or_none(course.pyproject_path, course.root, PYPROJECT_LIMIT) or ""
    rel = ctx.rel(course.pyproject_path)
    for key, message in project_schema_errors(project):
        line = toml_key_line(text, "project", key) if key else toml_key_line(text, "", "project")
        shown = message.replace("`", "")
        value = f" ({project[key]!r})" if key and isinstance(project.get(key), (str, int, float)) else ""
        out.add("TT010", COURSE, rel, line,
                f"[project] is invalid for the build: {shown}{value}; building the wheel fails",
                f"fix `{key}` on line {line} of {rel}" if key else f"fix [project] in {rel}",
                what=key or "project")


CODES = frozenset({"TT010"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_project_schema(ctx, out)
    yield from out
