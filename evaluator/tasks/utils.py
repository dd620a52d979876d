"""Thin lm-eval glue for the Scale-VQA tasks: prompts, images and scores all come from the Scale-VQA core."""

from __future__ import annotations

from typing import Any

from evaluator.docs import doc_images, task_dataset
from evaluator.metrics import circular_mean, doc_metrics

__all__ = ["circular_mean", "doc_to_image", "doc_to_text", "process_results", "task_dataset"]


def doc_to_text(doc: dict[str, Any]) -> str:
    return doc["text"]


def doc_to_image(doc: dict[str, Any]) -> list[Any]:
    return doc_images(doc)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return doc_metrics(doc, results[0])
