"""The reply cache of the chat backends, :class:`evaluator.chat.cache.ResponseCache`, where ``builders`` (which
may import ``baselines`` but not ``evaluator``) finds it."""

from evaluator.chat.cache import ResponseCache

__all__ = ["ResponseCache"]
