"""How much code one source file may hand to Python's parser: the memory budget of static analysis.

`ast.parse` costs about 300–650 bytes of memory per token (a 2.6-million-element list literal, 5 MiB
of text, takes 2.5 GB). The file size cap alone does not bound that, so before a cell is parsed its
tokens are counted cheaply (a C-speed regex count that over-counts, never under-counts, what the
tokenizer yields) and a cell that would take the file past the budget is refused — reported as "too
large to analyse" with its place — instead of being parsed. The budget is about fifteen times the
largest source of the real courses (39 thousand tokens), so lessons never meet it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FILE_TOKEN_BUDGET = 600_000   # per source file: at most ~400 MB of syntax trees
SMALL_CELL_CHARS = 64 * 1024  # below this a cell's length bounds its tokens: no count needed
# every name/number run, and every other non-space character, is at least one token
_TOKENISH = re.compile(r"\w+|[^\w\s]")


def estimated_tokens(code: str) -> int:
    """An upper estimate of the tokens of `code` (its length for a small cell, which is cheaper)."""
    if len(code) <= SMALL_CELL_CHARS:
        return len(code)
    return _TOKENISH.subn("", code)[1]


@dataclass
class ParseBudget:
    """What is left of one file's budget; `admit` says whether a cell may be parsed."""
    left: int = FILE_TOKEN_BUDGET

    def admit(self, code: str) -> int:
        """0 when the cell may be parsed (its tokens are taken from the budget), else its estimated
        token count (the cell must not be parsed; the budget is unchanged)."""
        tokens = estimated_tokens(code)
        if tokens > self.left:
            return tokens
        self.left -= tokens
        return 0
