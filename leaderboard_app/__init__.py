"""The Scale-VQA leaderboard: submissions scored server-side against a hidden answer key.

`submission` validates uploads, `rules` holds the anti-gaming decisions, `store` the submission store (SQLite by
default), `service` runs one submission end to end, `table` builds the ranked table, `app` is the Gradio page,
`client` submits from a script, and `space/` is the Hugging Face Space entry point.
"""
