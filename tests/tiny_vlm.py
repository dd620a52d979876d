"""A tiny random Qwen2.5-VL (≈0.2 M parameters) built offline, and small synthetic 3-image releases for it.

Recipe: FIELD_NOTES §8. A byte-level BPE tokenizer trained on a few sentences with Qwen's special and vision
tokens and a Qwen2-VL-style chat template, ``Qwen2VLImageProcessorPil(min_pixels=56², max_pixels=112²)`` (a 56²
image becomes 4 ``<|image_pad|>`` tokens), and a 2-layer text model with a 2-block vision tower. As in
:mod:`tiny_llm`, a reply is planted in the embeddings so greedy decoding answers :data:`REPLY` to any prompt
(pass ``plant=False`` for a plainly random model). Without torchvision the processor is the image-only one of
:mod:`scale_vqa.vlm_compat`. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from conftest import make_item
from scale_vqa import release
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import ImageRefs, Item
from scale_vqa.release import canonical_split as split_name
from tiny_llm import CORPUS, _plant_reply

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
IMAGE_SIZES = {"low_mag": (56, 56), "mid_mag": (112, 56), "high_mag": (56, 112)}
"""(width, height) of each scale's synthetic image: distinct, so image_grid_thw tells the scales apart."""


def build_tiny_vlm(out: Path, *, plant: bool = True) -> Path:
    """Save a tiny Qwen2.5-VL model, its processor (tokenizer + image processor) and generation config."""
    import torch
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    from scale_vqa.vlm_compat import image_only_processor, load_processor, torchvision_works

    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=460, special_tokens=SPECIAL,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in TAGS])
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
        _plant_reply(model, AutoTokenizer.from_pretrained(out), REPLY)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.eval()
    model.save_pretrained(out)
    load_processor(str(out))  # fail here, not in the test, if the saved processor does not load
    return out


def write_release(root: Path, n_per_dimension: int = 2, *, split: str = "val", image_format: str = "JPEG",
                  n_regions: int | None = None) -> list[Item]:
    """Write ``root/{split}.json`` and ``root/images/…`` (5 dimensions × `n_per_dimension` items) and return
    the items. Each region has three synthetic images (sizes :data:`IMAGE_SIZES`, a colour per region and
    scale); items share regions as in the release."""
    from PIL import Image

    n = n_per_dimension * len(DIMENSIONS)
    n_regions = n_regions or max(2, n // 2)
    ext = "jpg" if image_format == "JPEG" else image_format.lower()
    items: list[Item] = []
    for i in range(n):
        region, slide = f"r{i % n_regions}", f"slide{i % n_regions % 3}"
        refs = {}
        for s, (scale, size) in enumerate(IMAGE_SIZES.items()):
            rel = f"{slide}/{region}_{scale}.{ext}"
            path = root / "images" / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                colour = ((37 * (i % n_regions)) % 256, (80 * s + 20) % 256, (11 * (i % n_regions) + 60 * s) % 256)
                Image.new("RGB", size, colour).save(path, image_format)
            refs[scale] = rel
        item = make_item(i + 1, DIMENSIONS[i % len(DIMENSIONS)], "ABCD"[i % 4], split=split_name(split),
                         region=region, slide=slide)
        items.append(item.with_(images=ImageRefs(**refs)))
    release.write_release(items, root / f"{split}.json")
    return items
