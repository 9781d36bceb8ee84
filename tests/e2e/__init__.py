"""End to end: processes (CLI, drills, the built wheel), the browser, long runs, deploy files."""
