"""The registry of static checks: one entry per finding family, each owning its codes. A unit test
asserts every catalogue code belongs to exactly one check; `validate` runs them in this order over one
shared, read-only `CheckContext`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, FrozenSet, Iterator, Tuple

from . import (
    _case_collisions,
    _config,
    _conflicts,
    _exports,
    _imports,
    _markers,
    _matrix,
    _metadata,
    _names,
    _naming,
    _package_tree,
    _packaging,
    _pairs,
    _paths,
    _project_schema,
    _pyversions,
    _reading,
    _special_files,
    _testpatches,
    _thirdparty,
    _waivers,
)
from .context import CheckContext
from .findings import Finding


@dataclass(frozen=True)
class Check:
    name: str
    codes: FrozenSet[str]
    run: Callable[[CheckContext], Iterator[Finding]]


CHECKS: Tuple[Check, ...] = (
    Check("config", _config.CODES, _config.check),
    Check("project_schema", _project_schema.CODES, _project_schema.check),
    Check("naming", _naming.CODES, _naming.check),
    Check("metadata", _metadata.CODES, _metadata.check),
    Check("reading", _reading.CODES, _reading.check),
    Check("special_files", _special_files.CODES, _special_files.check),
    Check("exports", _exports.CODES, _exports.check),
    Check("pairs", _pairs.CODES, _pairs.check),
    Check("conflicts", _conflicts.CODES, _conflicts.check),
    Check("case_collisions", _case_collisions.CODES, _case_collisions.check),
    Check("paths", _paths.CODES, _paths.check),
    Check("pyversions", _pyversions.CODES, _pyversions.check),
    Check("matrix", _matrix.CODES, _matrix.check),
    Check("names", _names.CODES, _names.check),
    Check("imports", _imports.CODES, _imports.check),
    Check("thirdparty", _thirdparty.CODES, _thirdparty.check),
    Check("markers", _markers.CODES, _markers.check),
    Check("testpatches", _testpatches.CODES, _testpatches.check),
    Check("package_tree", _package_tree.CODES, _package_tree.check),
    Check("packaging", _packaging.CODES, _packaging.check),
    Check("waivers", _waivers.CODES, _waivers.check),
)


def owner(code: str) -> Check:
    """The check that owns a code."""
    for check in CHECKS:
        if code in check.codes:
            return check
    raise KeyError(code)
