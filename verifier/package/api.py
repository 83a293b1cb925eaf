"""The public API surface of the exported package, read statically (AST, no code runs), and its
comparison with the committed snapshot of the previous release.

Removed names and incompatible signature changes are breaking; added names go into the
release notes. A breaking change is acknowledged when its qualified name appears in the
course's RELEASE_NOTES.md.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

Surface = Dict[str, Dict[str, dict]]  # module -> name -> description
SNAPSHOT = "api.json"
RELEASE_NOTES = "RELEASE_NOTES.md"


def _params(args: ast.arguments) -> List[dict]:
    positional = list(getattr(args, "posonlyargs", [])) + list(args.args)
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [{"name": a.arg, "kind": "positional", "default": d is not None} for a, d in zip(positional, defaults)]
    if args.vararg:
        params.append({"name": args.vararg.arg, "kind": "varargs", "default": True})
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append({"name": arg.arg, "kind": "keyword", "default": default is not None})
    if args.kwarg:
        params.append({"name": args.kwarg.arg, "kind": "varkw", "default": True})
    return params


def _methods(node: ast.ClassDef, classes: Dict[str, ast.ClassDef], seen: Tuple[str, ...] = ()) -> Dict[str, list]:
    """Public methods of a class, including those inherited from base classes of the same module
    (so moving a method into a shared base is not mistaken for removing it)."""
    methods: Dict[str, list] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
            methods.update(_methods(classes[base.id], classes, seen + (node.name,)))
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                (not item.name.startswith("_") or item.name in ("__init__", "__call__")):
            methods[item.name] = _params(item.args)
    return methods


def _describe(node: ast.AST, classes: Dict[str, ast.ClassDef]) -> dict:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {"kind": "function", "params": _params(node.args)}
    if isinstance(node, ast.ClassDef):
        return {"kind": "class", "methods": _methods(node, classes)}
    return {"kind": "value"}


def module_surface(path: Path) -> Dict[str, dict]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: List[str] = []
    defined: Dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                names = [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defined.setdefault(target.id, node)
    classes = {name: node for name, node in defined.items() if isinstance(node, ast.ClassDef)}
    return {name: _describe(defined[name], classes) if name in defined else {"kind": "value"} for name in names}


def package_surface(package_dir: Path) -> Surface:
    """{"tinytorch.core.tensor": {"Tensor": {...}}, ...} for every exported module."""
    surface: Surface = {}
    base = package_dir.parent
    for path in sorted(package_dir.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        module = ".".join(path.relative_to(base).with_suffix("").parts)
        surface[module] = module_surface(path)
    return surface


def _incompatible(old: List[dict], new: List[dict]) -> Optional[str]:
    """Why a call that worked with `old` parameters can fail with `new` ones (None: compatible)."""
    new_by_name = {p["name"]: p for p in new}
    accepts_any_keyword = any(p["kind"] == "varkw" for p in new)
    for index, param in enumerate(old):
        if param["kind"] in ("varargs", "varkw"):
            if not any(p["kind"] == param["kind"] for p in new):
                return f"no longer accepts *{param['name']}"
            continue
        match = new_by_name.get(param["name"])
        if match is None and not accepts_any_keyword:
            return f"parameter `{param['name']}` removed"
        if param["kind"] == "positional" and (index >= len(new) or new[index]["name"] != param["name"]):
            return f"parameter `{param['name']}` moved"
    old_names = {p["name"] for p in old}
    for param in new:
        if param["name"] not in old_names and not param["default"] and param["kind"] in ("positional", "keyword"):
            return f"new required parameter `{param['name']}`"
    return None


@dataclass
class ApiDiff:
    breaking: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)
    # each breaking change -> (package module, top-level name) it concerns: the gate blames the course
    # module that exports that package module (typed, not read back from the change's text)
    origin: Dict[str, Tuple[str, str]] = field(default_factory=dict)


def compare(old: Surface, new: Surface) -> ApiDiff:
    diff = ApiDiff()
    for module, names in old.items():
        current = new.get(module, {})
        for name, before in names.items():
            qualified = f"{module}.{name}"
            after = current.get(name)
            known = len(diff.breaking)
            if after is None:
                diff.breaking.append(f"{qualified} removed")
                diff.origin[diff.breaking[-1]] = (module, name)
                continue
            if before["kind"] != after["kind"]:
                diff.breaking.append(f"{qualified} changed from {before['kind']} to {after['kind']}")
            elif before["kind"] == "function":
                why = _incompatible(before["params"], after["params"])
                if why:
                    diff.breaking.append(f"{qualified}: {why}")
            elif before["kind"] == "class":
                for method, params in before["methods"].items():
                    if method not in after["methods"]:
                        diff.breaking.append(f"{qualified}.{method} removed")
                        continue
                    why = _incompatible(params, after["methods"][method])
                    if why:
                        diff.breaking.append(f"{qualified}.{method}: {why}")
            for change in diff.breaking[known:]:
                diff.origin[change] = (module, name)
    for module, names in new.items():
        for name in names:
            if name not in old.get(module, {}):
                diff.added.append(f"{module}.{name}")
    return diff


def unacknowledged(diff: ApiDiff, release_notes: Optional[Path]) -> List[str]:
    """Breaking changes whose qualified name the release notes do not mention."""
    text = release_notes.read_text(encoding="utf-8") if release_notes and release_notes.is_file() else ""
    return [change for change in diff.breaking if change.split(" ")[0].split(":")[0] not in text]


def load_snapshot(path: Path) -> Optional[Surface]:
    """The committed snapshot's modules, read safely and shape-checked (raises CourseError); None if absent."""
    from ..course.config import load_api_snapshot
    return load_api_snapshot(path)


def snapshot_text(surface: Surface, version: str) -> str:
    """JSON with one line per public name, so a diff of the snapshot reads like a diff of the API."""
    modules = []
    for module in sorted(surface):
        names = [f"   {json.dumps(name)}: {json.dumps(surface[module][name], sort_keys=True)}"
                 for name in sorted(surface[module])]
        modules.append(f"  {json.dumps(module)}: {{\n" + ",\n".join(names) + "\n  }")
    return f'{{\n "version": {json.dumps(version)},\n "modules": {{\n' + ",\n".join(modules) + "\n }\n}\n"
