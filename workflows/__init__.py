"""Deterministic code only: definition models, goal matching and the workflows that run them."""
