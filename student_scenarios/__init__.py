"""Student scenarios: plain scripts run inside fresh venvs against the installed tinytorch wheel.

Each script is copied into an empty directory and run with `python -I`; it may import only
tinytorch, its declared dependencies and the standard library. Its last stdout line is
`TITO_RESULT {json}` with its key figures; a failed expectation exits non-zero.
Optional header lines: `# scenario-modules: tensor, autograd` (what it exercises) and
`# scenario-timeout: 120` (seconds).
"""
