"""Course configuration (TT005): the oldest supported Python must be declared.
"""
from __future__ import annotations

from typing import Iterator

from ..course.pyversions import DEFAULT_OLDEST, show
from .context import CheckContext, Emitter, config_place
from .findings import COURSE, Finding


def check_config(ctx: CheckContext, out: Emitter) -> None:
    if ctx.declared_oldest is None:
        path, line = config_place(ctx.course, "requires-python")
        out.add("TT005", COURSE, path, line,
                 f"the course declares no oldest supported Python (requires-python); assuming "
                 f"{show(DEFAULT_OLDEST)}",
                 f'add `requires-python = ">={show(DEFAULT_OLDEST)}"` to [project] in pyproject.toml')



CODES = frozenset({'TT005'})


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    check_config(ctx, out)
    yield from out
