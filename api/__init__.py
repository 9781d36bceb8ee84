"""The HTTP API: a thin FastAPI front end that starts workflows and forwards events."""
