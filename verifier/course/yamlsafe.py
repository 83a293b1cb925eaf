"""PyYAML behind limits, for module.yaml: a loader that counts alias uses, nodes and depth while composing,
so an alias bomb or a deeply nested document is refused before anything expands or recurses. Apart
from config.py so that a run whose module.yaml files all come from the cache (config.load_module_yaml)
never imports PyYAML.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, cast

import yaml

YAML_MAX_DEPTH = 32            # a module.yaml is a handful of keys, two levels deep
YAML_MAX_ALIAS_USES = 100      # `*name` references in one file
YAML_MAX_EXPANDED_NODES = 20_000  # nodes once every alias is expanded (what a walker would visit)


class YamlLimitError(yaml.error.MarkedYAMLError):
    """A YAML document beyond the limits of a configuration file (aliases, depth, size).

    Not a VerifierError: raised from inside PyYAML's composer, it is a yaml.YAMLError with its mark
    (line, column), so the one handler of YAML errors turns it into a ConfigError naming the line."""


def _mark(event: yaml.Event) -> Optional[yaml.error.Mark]:
    # SafeLoader's pure-Python parser makes yaml.error.Mark; the stubs' union also admits libyaml's Mark
    return cast(Optional[yaml.error.Mark], event.start_mark)


class LimitedSafeLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses, nodes and depth while composing, so that an alias bomb or
    a deeply nested document is refused before anything expands or recurses."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_uses = 0
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.alias_uses += 1
            if self.alias_uses > YAML_MAX_ALIAS_USES:
                raise YamlLimitError(problem=f"more than {YAML_MAX_ALIAS_USES} alias uses (*name): refused",
                                     problem_mark=_mark(event))
        self.depth += 1
        if self.depth > YAML_MAX_DEPTH:
            raise YamlLimitError(problem=f"nested more than {YAML_MAX_DEPTH} levels deep: refused",
                                 problem_mark=_mark(event))
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def expanded_size(node: yaml.Node, limit: int = YAML_MAX_EXPANDED_NODES) -> int:
    """How many nodes a walk that follows aliases visits (memoised: shared nodes count once per use)."""
    sizes: Dict[int, int] = {}

    def size(current: yaml.Node) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        sizes[id(current)] = limit + 1  # a node that contains itself is unbounded
        total = 1
        if isinstance(current, yaml.SequenceNode):
            for child in current.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                total += size(key) + size(value)
                if total > limit:
                    break
        sizes[id(current)] = total
        return total

    return size(node)


def compose_yaml(text: str) -> Optional[yaml.Node]:
    """The node tree of one YAML document within the limits; raises yaml.YAMLError (YamlLimitError
    for a document that is too deep, uses too many aliases or would expand too far)."""
    loader = LimitedSafeLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None and expanded_size(node) > YAML_MAX_EXPANDED_NODES:
        raise YamlLimitError(problem=f"expands to more than {YAML_MAX_EXPANDED_NODES} nodes through its "
                                     f"aliases: refused", problem_mark=node.start_mark)
    return node


def construct_yaml(node: Optional[yaml.Node]) -> Any:
    """Plain Python values of a composed (and limited) node tree."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_document(text: str) -> Tuple[Any, Optional[Tuple[str, Optional[int]]], Dict[str, int]]:
    """A module.yaml text as (its value — {} for an empty document —, the problem that makes it unreadable,
    the line of each top-level key); never raises. config.py says what a value that is not a mapping means."""
    try:
        node = compose_yaml(text)
        data = construct_yaml(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, (f"module.yaml is not valid YAML: {problem}", line), {}
    except (RecursionError, MemoryError):
        return None, ("module.yaml is nested too deeply to read", None), {}
    if data is None:
        return {}, None, {}
    lines: Dict[str, int] = {}
    if isinstance(data, dict) and isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
    return data, None, lines
