"""A course's lock files (`locks/py3.X.txt`, pip-tools format) read as DATA, never as pip options.

pip and uv obey whatever a requirements file says: `--index-url`, `--extra-index-url`, `-f`,
`--trusted-host`, `-e`, nested `-r`/`-c`, `pkg @ https://…`, `git+…` all make the installer contact
a server the file names. So the verifier never hands a course's lock to an installer: it parses it
here into typed pins (name==version, `--hash` digests, environment markers; comments and `\\`
continuations understood) and writes a file of its own from them (`LockFile.render`). Anything that
would change where packages come from, and any option not known to be harmless, is refused with one
line naming the file and line and what to do; a package pinned twice is refused naming both lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import CourseError

# pip's own rule: `#` starts a comment at the start of a line or after whitespace (a URL fragment stays)
COMMENT = re.compile(r"(^|\s+)#.*$")
HASH = re.compile(r"^(?P<algorithm>sha256|sha384|sha512):(?P<digest>[0-9a-fA-F]+)$")
DIGEST_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
CREDENTIALS = re.compile(r"(?<=//)[^/@\s]+@")  # user:password@ of a URL: never echoed

# Options that change where packages come from: each refused, saying what it would have done.
SOURCE_OPTIONS = {
    "-i": "sets the package index", "--index-url": "sets the package index",
    "--extra-index-url": "adds a package index", "--no-index": "replaces your package indexes",
    "-f": "adds a find-links location", "--find-links": "adds a find-links location",
    "--trusted-host": "turns off TLS checks for a host",
    "-e": "installs an editable project from a path or URL", "--editable": "installs an editable project",
    "-r": "reads another requirements file", "--requirement": "reads another requirements file",
    "-c": "reads another constraints file", "--constraint": "reads another constraints file",
}
# Options that change nothing about the source of a package pinned exactly: accepted, not passed on
# (--require-hashes is implied by the hashes the verifier writes back).
HARMLESS_OPTIONS = ("--pre", "--require-hashes")
LOCK_HINT = "keep only `name==version` pins (with --hash) — `nox -s lock` writes such a lock; " \
            "name indexes in your pip/uv configuration (pip.conf, PIP_INDEX_URL, UV_INDEX_URL) instead"


class LockFileError(CourseError):
    """A lock (or constraints) file holds something other than pins: refused before any install."""


@dataclass(frozen=True)
class Pin:
    """One `name==version` line of a lock."""
    name: str                      # canonical (PEP 503) name
    version: str
    line: int                      # first physical line of the requirement
    hashes: Tuple[str, ...] = ()   # "sha256:<hex>", as pip and uv expect them
    marker: str = ""               # environment marker, "" for none
    extras: Tuple[str, ...] = ()

    def requirement(self, with_hashes: bool = True) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        text = f"{self.name}{extras}=={self.version}"
        if self.marker:
            text += f" ; {self.marker}"
        if with_hashes:
            text += "".join(f" --hash={digest}" for digest in self.hashes)
        return text


@dataclass(frozen=True)
class LockFile:
    """The pins of one lock file, in file order, with where each came from."""
    path: Path
    pins: Tuple[Pin, ...]

    @property
    def has_hashes(self) -> bool:
        return any(pin.hashes for pin in self.pins)

    def where(self, pin: Pin) -> str:
        return f"{self.path}:{pin.line}"

    def pins_named(self, name: str) -> List[Pin]:
        key = canonicalize_name(name)
        return [pin for pin in self.pins if pin.name == key]

    def render(self, with_hashes: bool = True) -> str:
        """The text the verifier hands to pip/uv: only pins, one a line, written by the verifier."""
        head = f"# written by tinytorch-verifier from {self.path}: pins only, nothing else of that file is passed on\n"
        return head + "".join(pin.requirement(with_hashes) + "\n" for pin in self.pins)


def _redact(text: str, limit: int = 120) -> str:
    text = CREDENTIALS.sub("***@", text)
    return text if len(text) <= limit else text[:limit] + "…"


def logical_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(first physical line number, text without comment) of every non-empty logical line: pip's
    join-then-strip order, so a `\\` continuation joins the next line and a comment line ends one."""
    pending: List[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), 1):
        is_comment = raw.lstrip().startswith("#")
        if raw.endswith("\\") and not is_comment:
            if not pending:
                first = number
            pending.append(raw[:-1])
            continue
        if pending:
            pending.append("" if is_comment else raw)
            joined, start = "".join(pending), first
            pending = []
        else:
            joined, start = raw, number
        stripped = COMMENT.sub("", joined).strip()
        if stripped:
            yield start, stripped
    if pending:  # a continuation on the last line: pip joins it with nothing
        stripped = COMMENT.sub("", "".join(pending)).strip()
        if stripped:
            yield first, stripped


def _split_options(line: str) -> Tuple[str, List[str]]:
    """(requirement text, option tokens): the requirement is every token before the first `-…`
    token, as pip splits a requirements line."""
    tokens = line.split()
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), tokens[index:]
    return " ".join(tokens), []


def _option_name(token: str) -> str:
    if token.startswith("--"):
        return token.split("=", 1)[0]
    return token[:2]  # -ihttp://… and -i http://… are both -i


def _refuse_option(path: Path, number: int, token: str, line: str) -> LockFileError:
    name = _option_name(token)
    what = SOURCE_OPTIONS.get(name)
    if what is not None:
        return LockFileError(f"`{_redact(line)}` {what}: a lock may not say where packages come from",
                             path, number, hint=LOCK_HINT)
    return LockFileError(f"`{_redact(line)}`: option {name} is not allowed in a lock (only --hash per pin, "
                         f"and --pre / --require-hashes on a line of their own)", path, number, hint=LOCK_HINT)


def _hashes(path: Path, number: int, options: List[str], line: str) -> Tuple[str, ...]:
    found: List[str] = []
    tokens = iter(options)
    for token in tokens:
        if token == "--hash":
            value = next(tokens, "")
        elif token.startswith("--hash="):
            value = token[len("--hash="):]
        else:
            raise _refuse_option(path, number, token, line)
        match = HASH.match(value)
        if match is None or len(match["digest"]) != DIGEST_LENGTH[match["algorithm"]]:
            raise LockFileError(f"`{_redact(line)}`: {_redact(value, 40) or 'nothing'} is not a hash "
                                f"(write --hash=sha256:<64 hex digits>)", path, number, hint=LOCK_HINT)
        found.append(f"{match['algorithm']}:{match['digest'].lower()}")
    return tuple(found)


def _looks_like_location(text: str) -> bool:
    lowered = text.lower()
    return ("://" in lowered or lowered.startswith(("git+", "hg+", "svn+", "bzr+", ".", "/", "~", "\\"))
            or lowered.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz"))
            or re.match(r"^[a-z]:[\\/]", lowered) is not None)


def _pin(path: Path, number: int, requirement: str, line: str, exact: bool) -> Tuple[Pin, Requirement]:
    if "${" in requirement:
        raise LockFileError(f"`{_redact(line)}`: environment variables are not expanded in a lock",
                            path, number, hint=LOCK_HINT)
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        if _looks_like_location(requirement):
            raise LockFileError(f"`{_redact(line)}` is a URL or path requirement: a lock may not say "
                                f"where packages come from", path, number, hint=LOCK_HINT) from None
        raise LockFileError(f"`{_redact(line)}` is not a `name==version` pin", path, number,
                            hint=LOCK_HINT) from None
    if parsed.url:
        raise LockFileError(f"`{_redact(line)}` is a URL requirement (`{parsed.name} @ …`): a lock may "
                            f"not say where packages come from", path, number, hint=LOCK_HINT)
    specifiers = list(parsed.specifier)
    pinned = len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and "*" not in specifiers[0].version
    if exact and not pinned:
        raise LockFileError(f"`{_redact(line)}` does not pin one exact version (write {parsed.name}==X.Y.Z)",
                            path, number, hint=LOCK_HINT)
    version = specifiers[0].version if pinned else str(parsed.specifier)
    return Pin(canonicalize_name(parsed.name), version, number, marker=str(parsed.marker or ""),
               extras=tuple(sorted(parsed.extras))), parsed


def parse_lock(text: str, path: Path, exact: bool = True) -> LockFile:
    """The pins of a lock's `text` (`path` only names it in messages). `exact`: every requirement
    must pin one version (a lock); False accepts ranges (a constraints or requirements file)."""
    pins: List[Pin] = []
    seen: Dict[Tuple[str, str], Pin] = {}
    for number, line in logical_lines(text):
        requirement, options = _split_options(line)
        if not requirement:  # an option line
            token = options[0]
            if token in HARMLESS_OPTIONS and len(options) == 1:
                continue
            raise _refuse_option(path, number, token, line)
        pin, _ = _pin(path, number, requirement, line, exact)
        pin = Pin(pin.name, pin.version, pin.line, _hashes(path, number, options, line), pin.marker, pin.extras)
        # one name twice is a contradiction unless both lines carry different markers (one per platform)
        for (name, marker), earlier in seen.items():
            if name == pin.name and (not marker or not pin.marker or marker == pin.marker):
                raise LockFileError(f"{pin.name} is pinned twice: line {earlier.line} "
                                    f"({earlier.requirement(False)}) and line {number} ({pin.requirement(False)})",
                                    path, number, hint="keep one pin per package (regenerate with `nox -s lock`)")
        seen[(pin.name, pin.marker)] = pin
        pins.append(pin)
    return LockFile(path, tuple(pins))


def read_lock(path: Path, root: Path, exact: bool = True) -> LockFile:
    """The lock at `path` (a regular UTF-8 file inside `root`, size-capped), parsed as data."""
    from .config import read_lock_text

    return parse_lock(read_lock_text(path, root), path, exact)
