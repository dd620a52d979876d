"""Shared test helpers: tiny models, fixtures data, synthetic slides."""
