"""Tests of the core (scale_vqa): items, loading, prompts, parsing, scoring, statistics, the CLI."""
