"""Library output we cannot act on, silenced for the length of a ``scale-vqa eval`` run: lm-eval's ``--metadata``
hint (once per task), its note that our generation settings override the task's (they are ours), its guess about
Qwen-VL's model type; transformers' FutureWarnings and info logs. Errors and progress bars stay."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

DROPPED: dict[str, tuple[str, ...]] = {
    "lm_eval.api.task": ("Custom kwargs can be passed to `--metadata`",),
    "lm_eval.evaluator": ("specified through cli, these settings will update",),
    "lm_eval.models.huggingface": ("neither marked as CausalLM or Seq2SeqLM",),
}
"""Logger → substrings of the messages dropped from it."""
QUIETED = ("httpx",)
"""Loggers that show only errors during the run (httpx's request lines); transformers' own verbosity is set to
errors too."""


class DropMessages(logging.Filter):
    """Drops records whose message contains one of `parts`."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        super().__init__()
        self.parts = parts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in self.parts)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Within the block: drop :data:`DROPPED` messages, raise :data:`QUIETED` loggers and transformers to ERROR,
    ignore transformers' FutureWarnings; everything is restored afterwards."""
    filters = [(logging.getLogger(name), DropMessages(parts)) for name, parts in DROPPED.items()]
    levels = [(logging.getLogger(name), logging.getLogger(name).level) for name in QUIETED]
    for logger, f in filters:
        logger.addFilter(f)
    for logger, _ in levels:
        logger.setLevel(logging.ERROR)
    verbosity = _transformers_verbosity(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
            yield
    finally:
        for logger, f in filters:
            logger.removeFilter(f)
        for logger, level in levels:
            logger.setLevel(level)
        if verbosity is not None:
            _transformers_verbosity(verbosity)


def _transformers_verbosity(level: int) -> int | None:
    """Set transformers' log verbosity (it resets its logger's level on import, so the logger's own level would
    not hold); returns the previous one, or None without transformers."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity(level)
    return previous
