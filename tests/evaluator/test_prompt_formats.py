"""The seed format through a real Qwen2.5-VL processor and lm-eval, and formats compared by `scale-vqa report`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("transformers")

from evaluator import docs
from scale_vqa.cli import main
from scale_vqa.prompt import build_prompt
from scale_vqa.release import load_items
from tests.helpers.seed_readme import readme_token_ids, release_images, token_ids


def test_seed_renders_to_the_readme_token_ids(tiny_vlm: Path, release: Path) -> None:
    from lm_eval.models.hf_vlms import HFMultimodalLM

    from tests.helpers.seed_readme import _processor

    item = load_items(release)[3]
    images = release_images(release, item)
    want = readme_token_ids(tiny_vlm, release, item)
    assert len(want) > 3 * 4  # three images expanded (4+8+8 <|image_pad|>) and the text
    prompt = build_prompt(item)
    assert token_ids(tiny_vlm, prompt.messages(lambda slot: {"type": "image"}), images) == want
    # what lm-eval's hf-multimodal sends for the task's doc: the system prompt and the doc text, split at <image>
    doc = next(d for d in docs.make_docs(docs.open_source(str(release), "validation"), "standard")
               if d["id"] == item.id)
    shim = SimpleNamespace(interleave=True, max_images=3, processor=_processor(str(tiny_vlm)), chat_applied=False)
    text = HFMultimodalLM.apply_chat_template(shim, [{"role": "system", "content": doc["system"]},
                                                     {"role": "user", "content": doc["text"]}])
    assert shim.processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist() == want
    labelled = build_prompt(item, prompt_format="labelled").messages(lambda slot: {"type": "image"})
    assert token_ids(tiny_vlm, labelled, images) != want


@pytest.mark.slow
def test_report_compares_labelled_and_seed_runs_paired_with_a_ci(tiny_vlm: Path, release: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = {}
    for fmt in ("seed", "labelled"):
        runs[fmt] = tmp_path / fmt
        argv = ["eval", "--model", "hf", "--model-args", f"pretrained={tiny_vlm}", "--data", str(release),
                "--split", "val", "--tasks", "scale_vqa", "--out", str(runs[fmt]), "--device", "cpu",
                "--batch-size", "5", "--max-gen-toks", "24", "--limit", "1", "--name", "tiny"]
        assert main([*argv, "--prompt-format", fmt] if fmt != "seed" else argv) == 0
        meta = json.loads((runs[fmt] / "run.json").read_text())
        assert meta["prompt_format"] == fmt
        lines = (runs[fmt] / "predictions_scale_vqa.jsonl").read_text().splitlines()
        assert {json.loads(line)["prompt_format"] for line in lines} == {fmt}
    capsys.readouterr()
    assert main(["report", str(runs["labelled"]), str(runs["seed"])]) == 0
    out = capsys.readouterr().out
    assert "tiny [seed] · all scales" in out and "tiny [labelled] · all scales" in out
    line = next(x for x in out.splitlines() if "format effect" in x)
    assert re.fullmatch(r"tiny: format effect on all scales \(seed − labelled\) [+-]\d+\.\d\d points, "
                        r"95% CI \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] over 5 items \(paired\)", line), line


def _run_folder(root: Path, name: str, fmt: str | None, correct: dict[str, list[bool]], model: str = "m") -> Path:
    """A result folder: key.json, one predictions file per group (right where `correct` says), run.json."""
    from scale_vqa.predictions import Prediction, write_predictions
    from scale_vqa.release import write_release
    from tests.helpers.items import make_key

    key = make_key(8)
    folder = root / name
    folder.mkdir()
    write_release(key, folder / "key.json")
    for group, right in correct.items():
        wrong = {item.answer: "A" if item.answer != "A" else "B" for item in key}
        write_predictions({item.id: Prediction.of_letter(item.answer if ok else wrong[item.answer])
                           for item, ok in zip(key, right, strict=True)}, folder / f"predictions_{group}.jsonl")
    meta = {"name": "model", "model_args": {"pretrained": model}}
    if fmt:
        meta["prompt_format"] = fmt
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def test_format_effect_and_question_gain_from_run_folders(tmp_path: Path) -> None:
    from evaluator.report import format_effects, gains, read_run, render

    n = 40
    seed = read_run(_run_folder(tmp_path, "seed", "seed", {"scale_vqa": [True] * n,
                                                            "scale_vqa_no_question": [i % 2 == 0 for i in range(n)]}))
    labelled = read_run(_run_folder(tmp_path, "labelled", "labelled", {"scale_vqa": [i % 4 != 0 for i in range(n)]}))
    other = read_run(_run_folder(tmp_path, "other", "labelled", {"scale_vqa": [False] * n}, model="other"))
    old = read_run(_run_folder(tmp_path, "old", None, {"scale_vqa": [False] * n}))
    (model, effect), = format_effects([labelled, other, old, seed], reps=500)  # same model, formats recorded
    assert model == "model" and effect.name == "format effect on all scales (seed − labelled)"
    assert effect.diff == pytest.approx(0.25) and effect.lo <= 0.25 <= effect.hi and effect.lo > 0 and effect.n == n
    (q,) = [g for g in gains(seed) if g.name == "question gain"]
    assert q.diff == pytest.approx(0.5) and q.minus == "no question"
    text = render([seed, labelled])
    assert "model [seed] · no question" in text and "format effect on all scales (seed − labelled) +25.00" in text
