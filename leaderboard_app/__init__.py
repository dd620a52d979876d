"""The Scale-VQA leaderboard: submissions scored server-side against a hidden answer key.

Built so far (issue 6, in progress): upload validation (`submission`), anti-gaming rules (`rules`), the
submission store with its SQLite default (`store`) and one submission end to end (`service`). The Gradio app,
the results table and plots are still to come.
"""
