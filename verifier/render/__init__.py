"""Rendering a verify result: the terminal table, the one-screen status, Markdown, JUnit, HTML and
JSON report files."""
