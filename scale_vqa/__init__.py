"""Scale-VQA core: items, dimensions, prompts, answer parsing, scoring and statistics.

Pure standard library; every other part of Scale-VQA imports these and re-implements none of them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .dimensions import DIMENSIONS, SCALES, Dimension, Scale
from .formats import DEFAULT_FORMAT, PromptFormat
from .item import LETTERS, ImageRefs, Item
from .loading import load
from .parse import ParsedAnswer, check_format, parse_answer
from .predictions import Prediction, load_predictions, read_predictions, write_predictions
from .problems import InputError, Problem, ValidationReport
from .prompt import SEED_SYSTEM_PROMPT, Prompt, Variant, build_prompt, prompts_for, rotate_options, shuffled_donors
from .release import LoadResult, load_items, read_release, write_release
from .scoring import ItemResult, ScoreReport, compare, judge, score
from .stats import mcnemar_exact, paired_bootstrap, paired_test, wilson_interval

__all__ = [
    "DEFAULT_FORMAT", "DIMENSIONS", "LETTERS", "SCALES", "SEED_SYSTEM_PROMPT",
    "Dimension", "ImageRefs", "InputError", "Item", "ItemResult", "LoadResult", "ParsedAnswer", "Prediction",
    "Problem", "Prompt", "PromptFormat", "Scale", "ScoreReport", "ValidationReport", "Variant",
    "build_prompt", "check_format", "compare", "judge", "load", "load_items", "load_predictions", "mcnemar_exact",
    "paired_bootstrap", "paired_test", "parse_answer", "prompts_for", "read_predictions", "read_release",
    "rotate_options", "score", "shuffled_donors", "wilson_interval", "write_predictions", "write_release",
]
