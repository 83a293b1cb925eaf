"""The module dependency graph: imports of exported cells resolved to modules, cycles, build order
and rendering (text, Mermaid, DOT, JSON)."""
