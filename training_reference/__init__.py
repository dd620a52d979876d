"""GRPO (TRL) reference trainer, rewards and configs.

Placeholder until its issue lands; nothing here yet.
"""
