"""HTTP tests against the real app, a worker and the dev server."""
