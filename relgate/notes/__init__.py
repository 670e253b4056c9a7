"""Release notes: git history, test-report parsing, Jinja rendering, the release-notes PR."""
