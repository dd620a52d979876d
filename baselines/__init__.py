"""Everything that answers an MCQ: text-only adversaries, API clients, local VLMs, reference result tables.

Placeholder until its issue lands; nothing here yet.
"""
