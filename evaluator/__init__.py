"""lm-eval task folder, multi-image model adapter and the fast `scale-vqa eval` runner.

Placeholder until its issue lands; nothing here yet.
"""
