"""Workflow tests on the time-skipping server or the dev server, no HTTP."""
