"""What a course is, read as text: discovery and metadata, module sources as cells, the nbdev
directive rules, parsed sources for static checks, and the Python versions a course supports.
Nothing here runs student code or starts a process."""
