"""Qwen2.5-VL processors without torchvision. Imports transformers only when called.

transformers 5.23's Qwen-VL processors always build a *video* processor, which needs torchvision; CPU torch
2.13 has no matching torchvision wheel. :func:`ensure_qwen_processor` registers, once per process, a processor
subclass without the video part for the Qwen2-VL / Qwen2.5-VL configs, so ``AutoProcessor.from_pretrained``
(and whatever calls it: lm-eval's ``hf-multimodal``, TRL, ``transformers serve``) works for images. Where
torchvision imports it does nothing: the stock processor is used.
"""

from __future__ import annotations

import functools
from typing import Any


def torchvision_works() -> bool:
    """True when torchvision imports (and so the stock video processors can be built)."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


@functools.cache
def ensure_qwen_processor() -> bool:
    """Make ``AutoProcessor`` build image-only Qwen2-VL/Qwen2.5-VL processors when torchvision is missing.

    Returns True when the image-only processors were registered, False when torchvision works (nothing done).
    """
    if torchvision_works():
        return False
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2VLConfig

    for config, cls in ((Qwen2_5_VLConfig, image_only_processor("Qwen2_5_VLProcessor")),
                        (Qwen2VLConfig, image_only_processor("Qwen2VLProcessor"))):
        AutoProcessor.register(config, cls, exist_ok=True)
    return True


@functools.cache
def image_only_processor(base: str) -> type:
    """A subclass of the transformers processor class `base` that never builds a video processor."""
    import transformers

    parent: Any = getattr(transformers, base)

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                 **kwargs: Any) -> None:
        parent.__init__(self, image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                        chat_template=chat_template, **kwargs)

    # sub-processors are derived from the __init__ signature: without `video_processor` none is loaded
    return type(f"ImageOnly{base}", (parent,), {"__init__": __init__, "__module__": __name__})


def load_processor(path: str, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained(path)`` that also works without torchvision (image-only then)."""
    ensure_qwen_processor()
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path, **kwargs)


@functools.cache
def fix_stop_strings_with_processor() -> None:
    """Let ``generate(stop_strings=…, tokenizer=processor)`` work: ``transformers serve`` 5.23 passes a VLM's
    *processor* as the tokenizer of stop strings, which fails (it is called with text as images). Patches
    ``StopStringCriteria`` to use the processor's tokenizer. Call it in the server process before it starts."""
    from transformers.generation import stopping_criteria

    cls = stopping_criteria.StopStringCriteria
    inner = cls.__init__

    def __init__(self: Any, tokenizer: Any, stop_strings: Any) -> None:
        inner(self, getattr(tokenizer, "tokenizer", tokenizer), stop_strings)

    cls.__init__ = __init__
