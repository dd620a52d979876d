"""The lm-eval task folder, its metrics, the runner and the report (CPU; a tiny random Qwen2.5-VL built offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("transformers")

from evaluator import docs, metrics, taskgen
from evaluator.report import gain, read_run, render
from evaluator.runner import model_arguments, run_eval
from scale_vqa.cli import main
from scale_vqa.formats import SEED_SYSTEM_PROMPT
from scale_vqa.predictions import Prediction
from scale_vqa.release import load_items
from scale_vqa.scoring import score
from scale_vqa.variants import GROUPS, group_name
from tests.helpers.items import REPO
from tests.helpers.seed_readme import readme_token_ids
from tests.helpers.tiny_vlm import IMAGE_SIZES, REPLY

PATCH_GRID = {scale: [1, h // 14, w // 14] for scale, (w, h) in IMAGE_SIZES.items()}
"""image_grid_thw of each scale's synthetic image (t, h, w in patches)."""


def test_shipped_task_folder_is_generated() -> None:
    expected = taskgen.files()
    shipped = {p.name: p.read_text(encoding="utf-8") for p in taskgen.TASK_DIR.iterdir()
               if p.is_file() and p.name not in ("utils.py", "__init__.py")}
    assert shipped == expected, "run `python -m evaluator.taskgen`"
    assert len([n for n in expected if n.endswith(".yaml")]) == len(GROUPS) * 6


@pytest.mark.slow
def test_lm_eval_validate_accepts_every_group(release) -> None:
    groups = ",".join(group_name(s) for s in GROUPS)
    cli = Path(sys.executable).with_name("lm-eval")
    proc = subprocess.run([str(cli), "validate", "--tasks", groups, "--include_path", str(taskgen.TASK_DIR)],
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "SCALE_VQA_DATASET": str(release)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All tasks found and valid" in proc.stdout + proc.stderr


def _source(release: Path) -> docs.Source:
    return docs.open_source(str(release), "validation")


def test_docs_carry_ids_image_paths_and_placeholder_order(release) -> None:
    src = _source(release)
    standard = docs.make_docs(src, "standard")
    assert [d["id"] for d in standard] == [i.id for i in src.items]
    for doc, item in zip(standard, src.items, strict=True):
        assert doc["text"].count("<image>") == 3
        assert [r["scale"] for r in doc["images"]] == ["low_mag", "mid_mag", "high_mag"]
        assert [r["path"] for r in doc["images"]] == [p for _, p in item.images]
        imgs = docs.doc_images(doc)
        assert [im.size for im in imgs] == list(IMAGE_SIZES.values())
    circular = docs.make_docs(src, "circular", "diagnosis")
    assert len(circular) == 4 * sum(i.dimension.value == "diagnosis" for i in src.items)
    assert {d["answer"] for d in circular} == set("ABCD")  # the gold letter moves with its option
    assert all(d["images"] == [] and "<image>" not in d["text"] for d in docs.make_docs(src, "blind"))
    assert all(d["prompt_format"] == "seed" and d["text"].startswith("<image>" * 3) for d in standard)
    labelled = docs.make_docs(src, "standard", prompt_format="labelled")
    assert all(d["text"].count("Low magnification (1×): <image>") == 1 for d in labelled)
    assert [d["images"] for d in labelled] == [d["images"] for d in standard]
    no_question = docs.make_docs(src, "no_question")
    assert all(src.by_id[d["id"]].question not in d["text"] and len(d["images"]) == 3 for d in no_question)
    assert all([r["scale"] for r in d["images"]] == ["mid_mag"] for d in docs.make_docs(src, "single_mid"))
    for doc in docs.make_docs(src, "shuffled"):
        donor = src.by_id[doc["images"][0]["item"]]
        assert donor.region != src.by_id[doc["id"]].region


def test_wrong_image_count_is_an_error_not_a_silent_drop(release) -> None:
    doc = docs.make_docs(_source(release), "standard")[0]
    doc = {**doc, "images": doc["images"][:2]}
    with pytest.raises(ValueError, match="3 <image> placeholders but 2 images"):
        docs.doc_images(doc)
    with pytest.raises(ValueError, match="max_images=1 would silently drop"):
        model_arguments("hf", "pretrained=x,max_images=1")
    with pytest.raises(ValueError, match="3 <image> placeholders but 1 images"):
        server_lm().messages("a <image> b <image> c <image>", _pil_images(1))
    with pytest.raises(ValueError, match="4 images but max_images=3"):
        server_lm().messages("<image>" * 4, _pil_images(4))


def server_lm() -> Any:
    """``scale-vqa eval --model openai``'s lm-eval model, pointed at a port where nothing listens."""
    pytest.importorskip("openai")
    from evaluator.chat.lm import OpenAIServerLM

    return OpenAIServerLM("m", "http://127.0.0.1:9/v1/chat/completions", progress=False)


def _pil_images(n: int) -> list[Any]:
    from PIL import Image

    return [Image.new("RGB", (8 + k, 8), (k * 60, 0, 0)) for k in range(n)]


def test_backend_defaults_and_user_overrides() -> None:
    # no pixel budget by default: the model processor's own, as in the seed's inference examples
    assert not {"max_pixels", "min_pixels"} & model_arguments("hf", "pretrained=m").keys()
    assert "mm_processor_kwargs" not in model_arguments("vllm", "pretrained=m")
    hf = model_arguments("hf", "pretrained=m,max_pixels=1000,batch_size=4")
    assert hf["max_images"] == 3 and hf["max_pixels"] == 1000 and hf["interleave"] is True
    assert model_arguments("hf", "pretrained=m,max_pixels=1000", {"max_pixels": 500, "min_pixels": None}) == {
        "max_images": 3, "interleave": True, "pretrained": "m", "max_pixels": 500}
    vllm = model_arguments("vllm", "pretrained=m,max_pixels=2000,gpu_memory_utilization=0.8")
    assert "max_pixels" not in vllm and vllm["mm_processor_kwargs"] == {"max_pixels": 2000}
    assert vllm["max_images"] == 3 and vllm["gpu_memory_utilization"] == 0.8
    with pytest.raises(ValueError, match="min_pixels: an OpenAI-compatible server"):
        model_arguments("openai", "model=x", {"min_pixels": 100})
    api = model_arguments("openai", "model=x,base_url=http://h/v1/chat/completions")
    assert api["max_images"] == 3 and api["num_concurrent"] == 8
    with pytest.raises(ValueError, match="needs pretrained="):
        model_arguments("hf", "")
    with pytest.raises(ValueError, match="needs model=NAME"):
        model_arguments("openai", "base_url=http://h")


def test_openai_model_puts_each_image_at_its_placeholder() -> None:
    from lm_eval.models.api_models import JsonChatStr

    from evaluator.chat.lm import image_part

    lm = server_lm()
    assert lm.backend.base_url == "http://127.0.0.1:9/v1" and lm.max_images == 3 and lm.runner.concurrency == 8
    assert lm.runner.retries == 5 and lm.gen.temperature == 0.0
    images = _pil_images(3)
    chat = [{"role": "system", "content": "sys"},
            {"role": "user", "content": "Low: <image>\nMid: <image>\nHigh: <image>\nQuestion?"}]
    out = lm.messages(JsonChatStr(json.dumps(chat)), images)
    assert out[0] == {"role": "system", "content": "sys"}
    parts = [image_part(img) for img in images]
    assert out[1]["content"] == [{"type": "text", "text": "Low: "}, parts[0], {"type": "text", "text": "\nMid: "},
                                 parts[1], {"type": "text", "text": "\nHigh: "}, parts[2],
                                 {"type": "text", "text": "\nQuestion?"}]


HAND_MADE = [  # (output, how it must count)
    ("<think>x</think> <answer>{gold}</answer>", "formatted"),
    ("<think>x</think> <answer>{gold}", "formatted"),  # lm-eval strips the stop string
    ("I think the answer is ({gold}).", "lenient"),
    ("<think>x</think> <answer>{wrong}</answer>", "formatted but wrong"),
    ("<answer>Benign</answer>", "wrong"),
]


def test_task_metrics_equal_the_core_scorer_on_hand_made_outputs(release) -> None:
    src = _source(release)
    all_docs = docs.make_docs(src, "standard")
    outputs, per_doc = {}, []
    for k, doc in enumerate(all_docs):
        template, kind = HAND_MADE[k % len(HAND_MADE)]
        wrong = "ABCD"[("ABCD".index(doc["answer"]) + 1) % 4]
        out = template.format(gold=doc["answer"], wrong=wrong)
        outputs[doc["id"]] = Prediction.of_output(out)
        m = metrics.doc_metrics(doc, out)
        per_doc.append(m)
        assert m["acc"] == float(kind in ("formatted", "lenient"))
        assert m["acc_strict"] == float(kind == "formatted")  # prose falls to the lenient metric only
        assert m["format_rate"] == float(kind.startswith("formatted"))
    rep = score(src.items, outputs)
    mean = {k: sum(m[k] for m in per_doc) / len(per_doc) for k in metrics.METRICS}
    assert mean["acc_micro"] == pytest.approx(rep.micro.value)
    assert mean["acc_strict"] == pytest.approx(rep.strict_micro.value)
    assert mean["format_rate"] == pytest.approx(rep.format_rate)
    by_dim = {}
    for doc, m in zip(all_docs, per_doc, strict=True):
        by_dim.setdefault(doc["dimension"], []).append(m["acc"])
    assert sum(sum(v) / len(v) for v in by_dim.values()) / len(by_dim) == pytest.approx(rep.macro)


def test_circular_metrics_need_every_rotation_right(release) -> None:
    src = _source(release)
    circ = docs.make_docs(src, "circular", "correspondence")
    pairs = []
    for k, doc in enumerate(circ):
        bad = k == 0  # one rotation of the first item wrong
        letter = "ABCD"[("ABCD".index(doc["answer"]) + bad) % 4]
        pairs.append(metrics.doc_metrics(doc, f"<think>t</think><answer>{letter}</answer>")["acc"])
    n_items = len(circ) // 4
    assert metrics.circular_mean(pairs) == pytest.approx((n_items - 1) / n_items)


def test_built_dataset_source_reads_image_bytes_from_the_table(tmp_path, release) -> None:
    pytest.importorskip("datasets")
    out = tmp_path / "built"
    assert main(["build", "--release", str(release.parent), "--images", str(release.parent / "images"),
                 "--out", str(out)]) == 0
    built = docs.open_source(str(out), "validation")
    from_release = _source(release)
    assert [i.id for i in built.items] == [i.id for i in from_release.items]
    doc = docs.make_docs(built, "standard")[3]
    ref = doc["images"][1]
    assert built.images.read(ref["item"], docs.Scale(ref["scale"]), ref["path"]) == \
        (release.parent / "images" / ref["path"]).read_bytes()
    with pytest.raises(ValueError, match="no 'hard' config"):
        docs.source_from({"scale_vqa_source": str(out), "scale_vqa_split": "validation", "scale_vqa_hard": True})


def test_real_validation_split_docs(val_path) -> None:
    src = docs.open_source(str(val_path), "validation", images=str(val_path.parent))
    assert len(src.items) == 450
    std = docs.make_docs(src, "standard")
    assert len(std) == 450 and all(d["text"].count("<image>") == len(d["images"]) for d in std)
    assert len(docs.make_docs(src, "circular")) == 1800
    assert len({d["images"][0]["item"] for d in docs.make_docs(src, "shuffled")}) > 50


def _record_generate(monkeypatch) -> list[dict]:
    from lm_eval.models.hf_vlms import HFMultimodalLM

    seen: list[dict] = []
    inner = HFMultimodalLM._model_multimodal_generate

    def spy(self, inputs, *args, **kwargs):
        seen.append({"grid": inputs["image_grid_thw"].tolist(),
                     "text": self.processor.batch_decode(inputs["input_ids"], skip_special_tokens=False),
                     "ids": [[t for t, m in zip(ids, mask, strict=True) if m] for ids, mask in
                             zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist(), strict=True)]})
        return inner(self, inputs, *args, **kwargs)

    monkeypatch.setattr(HFMultimodalLM, "_model_multimodal_generate", spy)
    return seen


@pytest.mark.slow
def test_hf_multimodal_run_sends_three_images_in_order_and_scores_like_the_core(
        tiny_vlm, release, tmp_path, monkeypatch, capsys) -> None:
    seen = _record_generate(monkeypatch)
    out = tmp_path / "run"
    rc = main(["eval", "--model", "hf", "--model-args", f"pretrained={tiny_vlm}", "--data", str(release),
               "--split", "val", "--tasks", "scale_vqa,scale_vqa_blind", "--out", str(out), "--device", "cpu",
               "--batch-size", "2", "--max-gen-toks", "24"])
    assert rc == 0
    assert "Image gain" in capsys.readouterr().out
    meta = json.loads((out / "run.json").read_text())
    assert meta["model_id"] == str(tiny_vlm) and meta["scale_vqa_version"] and len(meta["task_hash"]) == 64
    assert meta["date"].endswith("Z") and "model_revision" in meta
    grids = [g for call in seen for g in call["grid"]]
    assert grids == [PATCH_GRID[s] for _ in range(10) for s in ("low_mag", "mid_mag", "high_mag")]
    # the seed format by default: every prompt the model got is the seed README's message structure, token for token
    readme_ids = {tuple(readme_token_ids(tiny_vlm, release, item)) for item in load_items(release)}
    assert [ids for call in seen for ids in call["ids"] if tuple(ids) in readme_ids] == [
        ids for call in seen for ids in call["ids"]]
    assert sum(len(call["ids"]) for call in seen) == 10
    for call in seen:
        for text in call["text"]:
            assert "magnification" not in text and text.count("<|vision_start|>") == 3
    preds = [json.loads(line) for line in (out / "predictions_scale_vqa.jsonl").read_text().splitlines()]
    assert len(preds) == 10 and all(p["output"] == REPLY.removesuffix("</answer>") for p in preds)
    assert {p["prompt_format"] for p in preds} == {"seed"}
    meta = json.loads((out / "run.json").read_text())
    assert meta["prompt_format"] == "seed"
    budget = meta["image_budget"]  # the tiny processor's own bounds; 56² → 4 tokens, 112×56 → 8
    assert (budget["source"], budget["min_pixels"], budget["max_pixels"]) == ("processor default", 56 * 56, 112 * 112)
    assert budget["visual_tokens_per_image"][:3] == [t * h * w // 4 for t, h, w in PATCH_GRID.values()]
    results = json.loads((out / "results.json").read_text())["results"]
    core = score(load_items(out / "key.json"), {p["id"]: Prediction(p["prediction"], p["output"]) for p in preds})
    assert results["scale_vqa"]["acc,none"] == pytest.approx(core.macro)
    assert results["scale_vqa"]["acc_micro,none"] == pytest.approx(core.micro.value)
    assert results["scale_vqa"]["format_rate,none"] == 1.0 == core.format_rate
    sample = json.loads((out / "samples_scale_vqa_diagnosis.jsonl").read_text().splitlines()[0])
    assert sample["doc"]["images"][2]["path"].endswith("_high_mag.jpg")
    # `scale-vqa score` on the written predictions reproduces the table
    assert main(["score", "-p", str(out / "predictions_scale_vqa.jsonl"), "-k", str(out / "key.json"),
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert json.dumps(scored).count(f"{core.macro}") >= 1
    run = read_run(out)
    g = gain(run.reports["scale_vqa"], run.reports["scale_vqa_blind"], "image gain", "no images")
    assert g.diff == pytest.approx(core.macro - run.reports["scale_vqa_blind"].macro)
    assert "image gain" in render([run])


@pytest.mark.slow
def test_stock_lm_eval_cli_runs_the_task_folder(tiny_vlm, release, tmp_path) -> None:
    code = ("import sys; from evaluator.vlm_compat import ensure_qwen_processor; ensure_qwen_processor(); "
            "from lm_eval.__main__ import cli_evaluate; sys.argv[0] = 'lm_eval'; cli_evaluate()")
    cmd = [sys.executable, "-c", code, "run", "--model", "hf-multimodal", "--model_args",
           f"pretrained={tiny_vlm},max_images=3", "--include_path", str(taskgen.TASK_DIR), "--tasks", "scale_vqa",
           "--apply_chat_template", "--device", "cpu", "--batch_size", "2", "--limit", "1",
           "--gen_kwargs", "max_gen_toks=24", "--metadata",
           json.dumps({"scale_vqa_source": str(release), "scale_vqa_split": "validation"}),
           "--output_path", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]
    assert results["scale_vqa"]["format_rate,none"] == 1.0
    assert set(results) >= {f"scale_vqa_{d}" for d in ("correspondence", "diagnosis")}


@pytest.mark.slow
def test_openai_model_against_transformers_serve_interleaves_three_images(tiny_vlm, served_vlm, release, tmp_path,
                                                                         monkeypatch) -> None:
    pytest.importorskip("openai")
    from evaluator.chat.openai_backend import OpenAIChat
    from tests.helpers.tiny_llm import served_model

    sent: list[tuple[list, Any]] = []
    inner = OpenAIChat.complete

    def spy(self, messages, gen):
        sent.append((messages, gen))
        return inner(self, messages, gen)

    monkeypatch.setattr(OpenAIChat, "complete", spy)
    result = run_eval("openai", {"model": served_model(tiny_vlm), "base_url": f"{served_vlm}/chat/completions",
                                 "num_concurrent": 2},
                      source=str(release), split="validation", tasks="scale_vqa", out=tmp_path / "run",
                      limit=1, max_gen_toks=24)
    assert len(sent) == 5
    for messages, gen in sent:
        assert gen.temperature == 0 and "</answer>" in gen.stop and gen.max_tokens == 24
        user = messages[-1]["content"]
        kinds = [part["type"] for part in user]
        assert kinds == ["image_url", "image_url", "image_url", "text"]  # the seed README's structure
        assert user[3]["text"].startswith("Question ") and "\n(A) " in user[3]["text"]
        assert messages[0] == {"role": "system", "content": SEED_SYSTEM_PROMPT}
    rep = result.reports["scale_vqa"]
    assert rep.format_rate == 1.0 and len(rep.results) == 5
    assert json.loads((tmp_path / "run" / "run.json").read_text())["lm_eval_model"] == "scale-vqa-openai"


@pytest.mark.slow
def test_gpu_benchmark_script_runs_at_tiny_scale_on_cpu(tmp_path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_eval_gpu.py"),
                           "--tiny", "--items", "5", "--batch-sizes", "1,2", "--device", "cpu", "--max-gen-toks", "4",
                           "--side", "64", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [r["batch"] for r in rows] == [1, 2] and all(r["items"] == 5 and r["items_per_s"] > 0 for r in rows)
    assert "hf-multimodal best" in proc.stdout
