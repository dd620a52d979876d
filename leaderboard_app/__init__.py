"""Gradio leaderboard app and its submission store.

Placeholder until its issue lands; nothing here yet.
"""
