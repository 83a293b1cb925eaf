"""Resolution: what an import of exported code reaches — a course module (through the export
targets and the names each module's exported cells define), the standard library, a third-party
distribution, or in-tree files — and which module a module.yaml prerequisite names.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from ..course.analysis import CourseAnalysis
from ..course.config import MODULE_YAML_LIMIT
from ..course.discovery import Course, CourseModule
from ..course.files import read_course_text_or_none
from ..course.pyversions import is_stdlib
from ..course.sources import normalise_target
from .cellfacts import facts_of
from .imports import ImportRef


@dataclass
class Resolution:
    kind: str                         # package | unresolved | intree | stdlib | future | thirdparty
    modules: Tuple[str, ...] = ()     # course modules the import reaches
    target: Optional[str] = None      # package-internal target (`core.tensor`)
    missing: Tuple[str, ...] = ()     # imported names the target does not define
    problem: str = ""



class Resolver:
    """Maps imports to course modules using what each module's exported cells define."""

    def __init__(self, analysis: CourseAnalysis) -> None:
        course = analysis.course
        self.package = course.package
        self.targets: Dict[str, List[str]] = {}          # target -> owning module keys
        self.defined: Dict[str, Set[str]] = {}           # target -> names bound at its module level
        self.open_targets: Set[str] = set()              # targets that star-import (any name may exist)
        self.public: Dict[str, List[str]] = {}           # public name -> module keys
        self.stems: Dict[str, str] = {}                  # dev file stem -> module key
        self.declared_targets: Dict[str, str] = {}       # module.yaml exports_to (normalised) -> module key
        try:
            self.modules_top = course.modules_dir.resolve().relative_to(course.root).parts[0]
        except (ValueError, IndexError):
            self.modules_top = course.modules_dir.name
        for entry in analysis.modules:
            for path in (entry.module.source, entry.module.paired):
                if path is not None:
                    self.stems.setdefault(path.stem, entry.key)
            if entry.module.exports_to:
                self.declared_targets.setdefault(normalise_target(entry.module.exports_to, self.package), entry.key)
            broken = entry.dev is None or entry.dev.source is None or not entry.dev.default_exps \
                or any(not p.has_tree for p in entry.dev.exported)
            if broken and entry.module.exports_to:
                # what the module cannot show (unreadable, no target, a syntax error), module.yaml still
                # declares: imports of it resolve, and any name may exist (no cascade of findings)
                declared = normalise_target(entry.module.exports_to, self.package)
                owners = self.targets.setdefault(declared, [])
                if entry.key not in owners:
                    owners.append(entry.key)
                self.open_targets.add(declared)
            if entry.dev is None:
                continue
            for parsed in entry.dev.exported:
                if parsed.target is None:
                    continue
                owners = self.targets.setdefault(parsed.target, [])
                if entry.key not in owners:
                    owners.append(entry.key)
                defined = self.defined.setdefault(parsed.target, set())
                facts = facts_of(parsed, self.package)
                if facts is None:
                    self.open_targets.add(parsed.target)
                else:
                    defined.update(facts.bound)
                    if facts.star:
                        self.open_targets.add(parsed.target)
                    if parsed.public:
                        for name, _ in facts.public:
                            keys = self.public.setdefault(name, [])
                            if entry.key not in keys:
                                keys.append(entry.key)

    def _is_namespace(self, rel: str) -> bool:
        return any(t.startswith(rel + ".") for t in self.targets)

    def _internal(self, rel: str, names: Tuple[str, ...]) -> Resolution:
        shown = f"{self.package}.{rel}" if rel else self.package
        if rel in self.targets:
            defined = self.defined.get(rel, set())
            missing = () if rel in self.open_targets else tuple(
                n for n in names if n != "*" and n not in defined and f"{rel}.{n}" not in self.targets)
            return Resolution("package", tuple(self.targets[rel]), rel, missing)
        if rel == "" or self._is_namespace(rel):
            modules: List[str] = []
            missing_list: List[str] = []
            for name in names:
                sub = f"{rel}.{name}" if rel else name
                if name == "*":
                    continue
                if sub in self.targets:
                    modules += [m for m in self.targets[sub] if m not in modules]
                elif self._is_namespace(sub):
                    continue
                elif rel == "" and name in self.public:
                    modules += [m for m in self.public[name] if m not in modules]
                else:
                    missing_list.append(name)
            if missing_list and not modules and rel:
                return Resolution("unresolved", (), rel, tuple(missing_list),
                                  f"{shown}.{missing_list[0]} is not exported by any module")
            return Resolution("package", tuple(modules), rel or None, tuple(missing_list))
        owner = self.declared_targets.get(rel)
        if owner is not None:  # module.yaml says who should export it: keep the edge, blame the directive
            return Resolution("unresolved", (owner,), rel, (),
                              f"{shown} is not exported by any module ({owner} declares it as exports_to, but "
                              f"its `#| default_exp` says otherwise)")
        return Resolution("unresolved", (), rel, (), f"{shown} is not exported by any module")

    def resolve(self, ref: ImportRef) -> Resolution:
        if ref.level:
            if ref.target is None:
                return Resolution("unresolved", problem="relative import in a cell with no export target")
            parts = ref.target.split(".")[:-1]
            up = ref.level - 1
            if up > len(parts):
                return Resolution("unresolved", problem=f"relative import `{'.' * ref.level}{ref.name}` goes "
                                                        f"above the {self.package} package")
            base = parts[:len(parts) - up]
            rel = ".".join(base + ([ref.name] if ref.name else []))
            return self._internal(rel, ref.names)
        top = ref.top
        if ref.name == "__future__":
            return Resolution("future")
        if top == self.package:
            rel = ref.name[len(self.package) + 1:] if "." in ref.name else ""
            return self._internal(rel, ref.names)
        if top.endswith("_dev") or top == self.modules_top:
            module = self.stems.get(top)
            return Resolution("intree", (module,) if module else ())
        if is_stdlib(top):
            return Resolution("stdlib")
        if top in self.stems:
            return Resolution("intree", (self.stems[top],))
        return Resolution("thirdparty")



def resolve_prerequisite(course: Course, ref: str) -> Optional[CourseModule]:
    """A prerequisite entry may be a name (`tensor`), a folder (`01_tensor`) or a number."""
    ref = str(ref).strip()
    for module in course.modules:
        if ref in (module.name, module.key) or (ref.isdigit() and int(ref) == module.number):
            return module
    return None



def yaml_item_lines(path: Optional[Path]) -> Dict[str, int]:
    """Lines of nested module.yaml entries: `dependencies.prerequisites[0]` -> 7, `components[2]` -> 15."""
    if path is None:
        return {}
    text = read_course_text_or_none(path, path.parent, MODULE_YAML_LIMIT)
    if text is None:
        return {}
    return dict(_yaml_item_lines(text))


@lru_cache(maxsize=256)
def _yaml_item_lines(text: str) -> Tuple[Tuple[str, int], ...]:
    """Kept in the verifier's cache by content (cache.cached_by_content, with the installed PyYAML):
    after an edit of one module the other module.yaml files are not composed again, nor PyYAML imported."""
    from ..cache import cached_by_content

    def from_json(raw: Any) -> Optional[Tuple[Tuple[str, int], ...]]:
        if isinstance(raw, list) and all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                                         and isinstance(pair[1], int) for pair in raw):
            return tuple((name, line) for name, line in raw)
        return None

    return cached_by_content("module-yaml-lines", text, lambda: _composed_item_lines(text),
                             lambda lines: [list(pair) for pair in lines], from_json, library="yaml")


def _composed_item_lines(text: str) -> Tuple[Tuple[str, int], ...]:
    import yaml

    lines: Dict[str, int] = {}
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return ()

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                lines[key] = key_node.start_mark.line + 1
                walk(value, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[f"{prefix}[{i}]"] = item.start_mark.line + 1
                walk(item, f"{prefix}[{i}]")

    walk(node, "")
    return tuple(lines.items())


