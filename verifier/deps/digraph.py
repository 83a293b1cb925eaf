"""A small, domain-free directed graph toolkit: cycles (one per strongly connected component),
topological order with deterministic tie-breaking, reverse closure and connected groups. Nodes are hashable values,
edges a mapping node -> the nodes it points to (e.g. module -> the modules it depends on). It knows
nothing about courses, modules or imports; callers attach meaning.
"""
from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Callable,
    Collection,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    TypeVar,
)

from ..errors import VerifierError

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison  # a rank: any value `<` compares (int, str, tuple)

N = TypeVar("N", bound=Hashable)


class GraphError(VerifierError):
    """The graph is not what an operation needs (a cycle for `order`, an unknown node)."""

    def __init__(self, message: str, cycle: Sequence[Hashable] = ()) -> None:
        super().__init__(message)
        self.cycle = list(cycle)


def _check(edges: Mapping[N, Collection[N]]) -> None:
    for node, targets in edges.items():
        for target in targets:
            if target not in edges:
                raise GraphError(f"edge {node!r} -> {target!r} points to an unknown node")


def components(edges: Mapping[N, Collection[N]], nodes: Iterable[N]) -> List[List[N]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    _check(edges)
    index: Dict[N, int] = {}
    low: Dict[N, int] = {}
    stack: List[N] = []
    on_stack: Set[N] = set()
    found: List[List[N]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for nxt in children:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: List[N] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def cycles(edges: Mapping[N, Collection[N]], nodes: Iterable[N],
           rank: Callable[[N], SupportsRichComparison]) -> List[List[N]]:
    """One shortest cycle per strongly connected component, as [a, b, ..., a], starting at the node
    of lowest `rank` in the component; cycles sorted by the rank of their first node."""
    out: List[List[N]] = []
    for component in components(edges, nodes):
        members = set(component)
        start = min(component, key=rank)
        parents: Dict[N, N] = {}
        queue = [start]
        last: Optional[N] = None
        while queue and last is None:
            following: List[N] = []
            for node in queue:
                for nxt in edges[node]:
                    if nxt not in members:
                        continue
                    if nxt == start:
                        last = node
                        break
                    if nxt not in parents:
                        parents[nxt] = node
                        following.append(nxt)
                if last is not None:
                    break
            queue = following
        path = [start]
        step = last
        while step is not None and step != start:
            path.insert(1, step)
            step = parents.get(step)
        out.append(path + [start])
    out.sort(key=lambda c: rank(c[0]))
    return out


def order(edges: Mapping[N, Collection[N]], rank: Callable[[N], SupportsRichComparison]) -> List[N]:
    """Topological order, targets first (dependencies before what depends on them), ties broken by
    `rank`. Raises GraphError (with one cycle) when there is a cycle."""
    _check(edges)
    remaining = {k: set(v) - {k} for k, v in edges.items()}
    result: List[N] = []
    while remaining:
        ready = sorted((k for k, deps in remaining.items() if not deps), key=rank)
        if not ready:
            found = cycles(remaining, list(remaining), rank)
            raise GraphError("the graph has a cycle", found[0] if found else ())
        node = ready[0]
        result.append(node)
        del remaining[node]
        for deps in remaining.values():
            deps.discard(node)
    return result


def reverse_closure(edges: Mapping[N, Collection[N]], start: Iterable[N]) -> Set[N]:
    """The start nodes and every node that reaches one of them (e.g. every module depending on a
    changed module, directly or not)."""
    _check(edges)
    incoming: Dict[N, List[N]] = {k: [] for k in edges}
    for node, targets in edges.items():
        for target in targets:
            incoming[target].append(node)
    seen: Set[N] = set()
    todo = list(start)
    for node in todo:
        if node not in edges:
            raise GraphError(f"unknown node {node!r}")
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(incoming[node])
    return seen


def connected_groups(edges: Mapping[N, Collection[N]], nodes: Sequence[N]) -> List[List[N]]:
    """The groups of `nodes` linked by edges in either direction (weakly connected components), each
    in the order of `nodes`, the groups in the order of their first node (e.g. the independent task
    chains of a schedule, in submission order). Every node of `edges` must be in `nodes`."""
    _check(edges)
    linked: Dict[N, List[N]] = {node: [] for node in nodes}
    for node, targets in edges.items():
        for target in targets:
            linked[node].append(target)
            linked[target].append(node)
    group_of: Dict[N, int] = {}
    count = 0
    for first in nodes:
        if first in group_of:
            continue
        group_of[first] = count
        todo = [first]
        while todo:
            for other in linked[todo.pop()]:
                if other not in group_of:
                    group_of[other] = count
                    todo.append(other)
        count += 1
    groups: List[List[N]] = [[] for _ in range(count)]
    for node in nodes:
        groups[group_of[node]].append(node)
    return groups
