"""Everything that starts a process: sandboxed children, interpreter discovery, fresh venvs, the
student scenarios and course tests, and attribution of failures back to the student's file:line."""
