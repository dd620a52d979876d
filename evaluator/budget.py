"""The image budget a run actually used: pixel bounds and visual tokens per image, for ``run.json``.

By default the runner leaves the pixel budget to the model's processor (what the seed's inference examples do:
``vllm serve`` with no pixel limit, transformers' defaults); ``--max-pixels`` / ``--min-pixels`` set it
explicitly (for memory). :class:`BudgetProbe` records the effective bounds and measures the visual tokens of
each image of the first batch that carries images: from the processor's own output (``image_grid_thw``) for
``hf``, from the processor's resize rule under vLLM's ``mm_processor_kwargs`` for ``vllm``, and the client-side
downscale bound for API models (their servers choose the tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def processor_pixels(image_processor: Any) -> dict[str, int | None]:
    """``{"min_pixels", "max_pixels"}`` of a Qwen-VL-style image processor (``size`` shortest/longest edge in
    transformers 5, attributes in older ones); None where the processor has no such bound."""
    size = getattr(image_processor, "size", None)
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    low = get("shortest_edge") if size is not None else None
    high = get("longest_edge") if size is not None else None
    return {"min_pixels": getattr(image_processor, "min_pixels", None) or low,
            "max_pixels": getattr(image_processor, "max_pixels", None) or high}


def tokens_for(image_processor: Any, width: int, height: int, pixels: dict[str, int]) -> int | None:
    """Visual tokens of a `width` × `height` image under the processor's resize rule with `pixels` overrides
    (None when the processor cannot say)."""
    patches = getattr(image_processor, "get_number_of_image_patches", None)
    if patches is None:
        return None
    return int(patches(height, width, dict(pixels))) // int(getattr(image_processor, "merge_size", 1)) ** 2


class BudgetProbe:
    """Attached to an lm-eval model: records the effective image budget and the first image batch's tokens."""

    def __init__(self, backend: str, lm: Any, args: dict[str, Any]) -> None:
        self.backend = backend
        self.record: dict[str, Any] = {"source": "processor default", "min_pixels": None, "max_pixels": None,
                                       "visual_tokens_per_image": None, "image_sizes": None}
        processor = getattr(lm, "processor", None)
        image_processor = getattr(processor, "image_processor", None)
        self.image_processor = image_processor
        self.overrides: dict[str, int] = {}
        if backend == "vllm":
            kwargs = args.get("mm_processor_kwargs") or {}
            self.overrides = {k: int(kwargs[k]) for k in ("min_pixels", "max_pixels") if kwargs.get(k)}
        elif backend == "hf":
            self.overrides = {k: int(args[k]) for k in ("min_pixels", "max_pixels") if args.get(k)}
        if image_processor is not None:
            self.record.update(processor_pixels(image_processor))
            self.record.update(self.overrides)  # vLLM applies them on top of the processor it loads itself
        elif getattr(lm, "max_pixels", None) is not None or backend not in ("hf", "vllm"):
            # API models: images are downscaled to max_pixels before sending (None: sent as they are)
            self.record.update(source="client downscale" if getattr(lm, "max_pixels", None) else "server default",
                               max_pixels=getattr(lm, "max_pixels", None))
        if self.overrides:
            self.record["source"] = "explicit"
        encode = getattr(lm, "tok_batch_multimodal_encode", None)
        if encode is not None:
            lm.tok_batch_multimodal_encode = self._wrap(encode)

    def _wrap(self, encode: Callable[..., Any]) -> Callable[..., Any]:
        def probed(strings: list[str], images: list[list[Any]], *args: Any, **kwargs: Any) -> Any:
            out = encode(strings, images, *args, **kwargs)
            if self.record["visual_tokens_per_image"] is None and any(images):
                self._measure(images, out)
            return out

        return probed

    def _measure(self, images: list[list[Any]], encoded: Any) -> None:
        flat = [img for per_request in images for img in per_request]
        self.record["image_sizes"] = [list(getattr(img, "size", (0, 0))) for img in flat]
        grid = _get(encoded, "image_grid_thw")
        if grid is not None and self.image_processor is not None:  # hf: what the processor produced
            merge = int(getattr(self.image_processor, "merge_size", 1)) ** 2
            self.record["visual_tokens_per_image"] = [int(t * h * w) // merge for t, h, w in grid.tolist()]
        elif self.image_processor is not None:  # vllm: the processor's resize rule with vLLM's overrides
            self.record["visual_tokens_per_image"] = [
                tokens_for(self.image_processor, w, h, self.overrides) for w, h in self.record["image_sizes"]]


def _get(encoded: Any, key: str) -> Any:
    try:
        return encoded[key]
    except (KeyError, TypeError, IndexError):
        return None
