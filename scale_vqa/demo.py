"""A small, self-made demo release (MCQs + synthetic image triplets) and simulated model outputs.

Everything is generated offline from a seed, so a fresh machine can run the whole pipeline. The images are
procedural stand-ins (pink stroma with purple nuclei whose size grows with magnification), written as PNG
with the standard library only. The simulated outputs are *not* a model: they stand in for one until the
evaluator runs real models, and exercise every branch of parsing and scoring (strict tags, a stripped
closing tag, lenient answers, unparseable answers, missing items).
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_dir
from .dimensions import DIMENSIONS, SCALES, Dimension, Scale
from .item import ImageRefs, Item
from .predictions import Prediction, write_predictions
from .release import write_release

MARKER = ".scale-vqa-demo"
FEATURES = (
    "inflammatory cell infiltration", "stromal fibrosis", "coagulative necrosis", "irregular glandular structures",
    "nuclear pleomorphism", "abnormal mitotic figures", "solid sheets of tumour cells", "extracellular mucin",
    "haemorrhage", "prominent nucleoli",
)
DIAGNOSES = (
    "invasive ductal carcinoma", "colorectal adenocarcinoma", "squamous cell carcinoma", "fibroadenoma",
    "diffuse large B-cell lymphoma", "chronic inflammation without neoplasia",
)
_MAG_FILE = {Scale.LOW: "10x", Scale.MID: "40x", Scale.HIGH: "200x"}


def png_bytes(width: int, height: int, pixels: bytearray) -> bytes:
    """Encode 8-bit RGB `pixels` (row-major, width*height*3 bytes) as PNG."""
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def tissue_image(rng: random.Random, scale: Scale, size: int = 96) -> bytes:
    """A synthetic H&E-like tile: nuclei are small and dense at low power, large and sparse at high power."""
    radius, count = {Scale.LOW: (2, 140), Scale.MID: (4, 45), Scale.HIGH: (9, 10)}[scale]
    base = (236 + rng.randint(-8, 8), 190 + rng.randint(-15, 15), 214 + rng.randint(-10, 10))
    pix = bytearray(bytes(base) * (size * size))
    for _ in range(count):
        cx, cy = rng.randrange(size), rng.randrange(size)
        r = max(1, radius + rng.randint(-1, 1))
        shade = (90 + rng.randint(-20, 20), 50 + rng.randint(-15, 15), 140 + rng.randint(-20, 20))
        for y in range(max(0, cy - r), min(size, cy + r + 1)):
            for x in range(max(0, cx - r), min(size, cx + r + 1)):
                if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                    i = (y * size + x) * 3
                    pix[i:i + 3] = bytes(shade)
    return png_bytes(size, size, pix)


@dataclass(frozen=True)
class _Region:
    slide: str
    path_id: str
    low: tuple[str, ...]
    mid: tuple[str, ...]
    high: tuple[str, ...]
    diagnosis: str


def _options(rng: random.Random, gold: str, pool: list[str], k: int = 4) -> tuple[tuple[str, ...], str]:
    distractors = rng.sample([p for p in pool if p != gold], k - 1)
    options = [gold, *distractors]
    rng.shuffle(options)
    return tuple(options), "ABCD"[options.index(gold)]


def _questions(rng: random.Random, reg: _Region) -> dict[Dimension, tuple[str, tuple[str, ...], str, str]]:
    shared = sorted(set(reg.low) & set(reg.mid))[0]
    only_high = next(f for f in reg.high if f not in reg.low)
    a_opts, a = _options(rng, f"{shared} is seen at both low and mid magnification",
                         [f"{f} is seen at both low and mid magnification" for f in FEATURES])
    b_opts, b = _options(rng, f"the low-power impression of {reg.low[0]} is confirmed at high magnification",
                         [f"the low-power impression of {reg.low[0]} is confirmed at high magnification",
                          f"the low-power impression of {reg.low[0]} is contradicted at high magnification",
                          f"the low-power impression of {reg.low[0]} cannot be assessed at any magnification",
                          f"high magnification shows {reg.low[0]} absent from the low-power view"])
    c_opts, c = _options(rng, "high magnification",
                         ["low magnification", "mid magnification", "high magnification", "no magnification"])
    d_opts, d = _options(rng, f"{only_high} at high magnification explains the low-power pattern",
                         [f"{f} at high magnification explains the low-power pattern" for f in FEATURES])
    e_opts, e = _options(rng, reg.diagnosis, list(DIAGNOSES))
    return {
        Dimension.CORRESPONDENCE: ("Which feature corresponds across magnifications in this set?", a_opts, a,
                                   f"{shared} is listed at low and at mid magnification."),
        Dimension.CONFIRMATION: (f"Is the low-power impression of {reg.low[0]} confirmed at higher power?",
                                 b_opts, b, f"{reg.low[0]} is also listed at high magnification."),
        Dimension.LOCALIZATION: (f"At which magnification is {only_high} first recognisable?", c_opts, c,
                                 f"{only_high} is listed only at high magnification."),
        Dimension.EXPLANATION: ("Which finding best explains the architecture seen at low power?", d_opts, d,
                                f"{only_high} is the cellular finding behind the pattern."),
        Dimension.DIAGNOSIS: ("Which diagnosis best fits the findings across all three views?", e_opts, e,
                              f"The combined findings support {reg.diagnosis}."),
    }


def make_demo_release(out: Path, *, n_slides: int = 3, regions_per_slide: int = 4, seed: int = 0) -> list[Item]:
    """Write ``out/val.json`` and ``out/images/...`` and return the items (5 per region)."""
    rng = random.Random(seed)
    items: list[Item] = []
    number = 0
    for s in range(n_slides):
        slide = f"DEMO-SLIDE-{s + 1:02d}"
        for r in range(regions_per_slide):
            feats = rng.sample(FEATURES, 7)
            reg = _Region(slide, f"demo-{s + 1:02d}-{r + 1:02d}", (feats[0], feats[1], feats[2]),
                          (feats[1], feats[3], feats[4]), (feats[0], feats[5], feats[6]), rng.choice(DIAGNOSES))
            no_high = s == n_slides - 1 and r == 0  # one region lacks its high-power view, as in the release
            refs: dict[str, str | None] = {}
            for scale in SCALES:
                if scale is Scale.HIGH and no_high:
                    refs[scale.value] = None
                    continue
                rel = f"{slide}/rois/{slide}_path{r + 1}_{_MAG_FILE[scale]}.png"
                path = out / "images" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(tissue_image(rng, scale))
                refs[scale.value] = rel
            for dim, (question, options, answer, rationale) in _questions(rng, reg).items():
                number += 1
                items.append(Item(id=f"val-{number:05d}", question=question, options=options, answer=answer,
                                  dimension=dim, rationale=rationale, images=ImageRefs(**refs),
                                  wsi_name=slide, path_id=reg.path_id, split="validation", number=number))
    write_release(items, out / "val.json")
    return items


def simulate_outputs(items: list[Item], skill: dict[Dimension, float], *, seed: int,
                     missing: int = 0) -> dict[str, Prediction]:
    """Raw outputs of a *simulated* system that is right with probability `skill[dimension]`.

    Output styles vary on purpose: mostly the seed format, some with the closing tag stripped, some
    lenient (``Answer: C``), some unparseable (option text inside the tag); the last `missing` items get none.
    """
    rng = random.Random(seed)
    out: dict[str, Prediction] = {}
    for item in items[: len(items) - missing]:
        right = rng.random() < skill[item.dimension]
        letter = item.answer if right else rng.choice([x for x in item.letters if x != item.answer])
        style = rng.random()
        think = f"<think>Comparing the three views: {item.option(letter)[:60]}.</think>"
        if style < 0.80:
            text = f"{think} <answer>{letter}</answer>"
        elif style < 0.88:
            text = f"{think} <answer>{letter}"  # stop string stripped, as lm-eval does
        elif style < 0.94:
            text = f"{think}\nAnswer: {letter}"
        else:
            text = f"{think} <answer>{item.option(letter)}</answer>"
        out[item.id] = Prediction.of_output(text)
    return out


VISION_SKILL = {Dimension.CORRESPONDENCE: 0.75, Dimension.CONFIRMATION: 0.85, Dimension.LOCALIZATION: 0.8,
                Dimension.EXPLANATION: 0.7, Dimension.DIAGNOSIS: 0.8}
BLIND_SKILL = dict.fromkeys(DIMENSIONS, 0.3)


def write_demo(out: Path, *, seed: int = 0) -> dict[str, Path]:
    """Build the demo folder atomically (a temporary folder renamed into place). Returns its main paths.

    An existing `out` is replaced only if an earlier demo made it.
    """
    out = Path(out)
    if out.exists() and not (out / MARKER).exists():
        raise FileExistsError(f"{out} exists and is not a Scale-VQA demo folder; choose another --out")
    with atomic_dir(out) as tmp:
        items = make_demo_release(tmp / "release", seed=seed)
        preds = tmp / "predictions"
        write_predictions(simulate_outputs(items, VISION_SKILL, seed=seed + 1, missing=1),
                          preds / "simulated_vlm.jsonl")
        write_predictions(simulate_outputs(items, BLIND_SKILL, seed=seed + 2), preds / "simulated_blind.jsonl")
        (tmp / MARKER).write_text("made by `scale-vqa demo`\n")
    return {
        "release": out / "release" / "val.json",
        "images": out / "release" / "images",
        "vlm": out / "predictions" / "simulated_vlm.jsonl",
        "blind": out / "predictions" / "simulated_blind.jsonl",
    }
