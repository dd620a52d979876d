"""Dataset builders: HF `datasets` builder and Hub export, WSI -> ROI triplet extraction, the leak audit.

Placeholder until its issue lands; nothing here yet.
"""
