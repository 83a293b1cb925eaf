"""From sources to a package: export (nbdev semantics), staging and build, wheel checks, the
public-API snapshot, and per-Python lock files."""
