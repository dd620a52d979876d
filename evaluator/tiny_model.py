"""A tiny random Qwen2.5-VL (≈0.2 M parameters) built offline: for smoke tests, the demo and CPU benchmarks.

Recipe: a byte-level BPE tokenizer trained on a few sentences with Qwen's special and vision
tokens and a Qwen2-VL-style chat template, ``Qwen2VLImageProcessorPil(min_pixels=56², max_pixels=112²)`` (a 56²
image becomes 4 ``<|image_pad|>`` tokens), and a 2-layer text model with a 2-block vision tower. A reply is
planted in its embeddings so greedy decoding answers :data:`REPLY` to any prompt (``plant=False``: a plainly
random model). It cannot see; it only exercises the plumbing. Without torchvision the processor is the
image-only one of :mod:`evaluator.vlm_compat`. Nothing is downloaded. Imports torch/transformers when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scale_vqa.prompt import ANSWER_INSTRUCTION, SEED_SYSTEM_PROMPT

_CORPUS = [
    "The stroma shows dense fibrosis and atypical glands.",
    "Nuclear pleomorphism with mitoses suggests carcinoma.",
    "Question: Which feature is seen at high magnification?\nOptions:\n(A) necrosis\n(B) mucin\n(C) fat",
    "Low magnification (1×): Mid magnification (4×): High magnification (20×):",
    SEED_SYSTEM_PROMPT,
    ANSWER_INSTRUCTION,
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
           "<|image_pad|>", "<|video_pad|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
           "<|box_end|>", "<|quad_start|>", "<|quad_end|>"]
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
REPLY = "<think>Dense fibrosis.</think> <answer>B</answer>"
"""What the planted model replies to any prompt (greedy decoding, enough tokens)."""


def qwen_bpe(corpus: list[str], special: list[str], tags: list[str], vocab_size: int) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on `corpus`, with Qwen2's normalizer and pre-tokenizer (a
    config.json saying qwen2 makes AutoTokenizer rebuild it as Qwen2Tokenizer with these), `special` tokens and
    `tags` added as normal (non-special) tokens, as in Qwen3's tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in tags])
    return bpe


def build_tiny_vlm(out: Path, *, plant: bool = True) -> Path:
    """Save a tiny Qwen2.5-VL model, its processor (tokenizer + image processor) and generation config."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    from evaluator.vlm_compat import image_only_processor, load_processor, torchvision_works

    out.mkdir(parents=True, exist_ok=True)
    bpe = qwen_bpe(_CORPUS, SPECIAL, TAGS, vocab_size=460)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  padding_side="left")
    tok.chat_template = CHAT_TEMPLATE
    images = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    if torchvision_works():
        from transformers import Qwen2_5_VLProcessor, Qwen2VLVideoProcessor

        processor = Qwen2_5_VLProcessor(images, tok, Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    else:
        processor = image_only_processor("Qwen2_5_VLProcessor")(images, tok, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=False),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[1]),
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False, **ids)
    config.save_pretrained(out)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config)
    if plant:
        plant_reply(model, AutoTokenizer.from_pretrained(out), REPLY)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.eval()
    model.save_pretrained(out)
    load_processor(str(out))  # fail here, not in the test, if the saved processor does not load
    return out


def plant_reply(model: Any, tok: Any, reply: str) -> None:
    """Make greedy decoding answer `reply` to any prompt, keeping the other weights random.

    The last token of the generation prompt and the reply's tokens form a chain of distinct tokens: each gets a
    large embedding along its own orthonormal direction, and the output row of its successor points the same
    way. The random attention and MLP blocks add only a small perturbation to such a residual stream, so the
    next token follows from the current one whatever the prompt, with a wide logit margin.
    """
    import torch

    cue = tok.apply_chat_template([{"role": "user", "content": "?"}], add_generation_prompt=True, tokenize=False)
    chain = [tok(cue, add_special_tokens=False)["input_ids"][-1],
             *tok(reply + tok.eos_token, add_special_tokens=False)["input_ids"]]
    sources, targets = chain[:-1], chain[1:]
    if len(set(sources)) != len(sources):
        raise ValueError(f"the reply's tokens must be distinct: {tok.convert_ids_to_tokens(chain)}")
    dim = model.get_input_embeddings().weight.shape[1]
    directions = torch.linalg.qr(torch.randn(dim, len(sources), generator=torch.Generator().manual_seed(0)))[0].T
    with torch.no_grad():
        embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
        for source, target, direction in zip(sources, targets, directions, strict=True):
            embed[source] = direction * dim**0.5  # unit RMS: the scale of the normalised hidden state
            head[target] = direction * 4.0
    model.eval()


