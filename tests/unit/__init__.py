"""Tests with no server: the language, matching, templates, docs, replay of stored histories."""
