"""The baselines spoke: the model registry (every shipped config loads and plans), the published table as data,
chance/majority/text-only rows, the published-vs-measured table and its leaderboard export, and a seed model's
row reproduced end to end through the evaluator with a tiny random VLM (hf backend, and a loopback
``transformers serve`` for the server backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baselines.models.config import API_KINDS, MODELS_DIR, find_model_config, load_model_config, model_configs
from baselines.models.run import plan
from baselines.tables.reference import REFERENCE_DIR, load_reference, published_rows
from baselines.tables.table import chance_row, folder_rows, leaderboard_seed_rows, published_row, render
from scale_vqa.cli import main
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.predictions import Prediction, load_predictions, write_predictions
from scale_vqa.problems import InputError
from scale_vqa.prompt import SEED_SYSTEM_PROMPT
from scale_vqa.release import load_items, write_release
from scale_vqa.scoring import score
from scale_vqa.stats import binomial_pmf, chance_range
from tests.helpers.items import make_key

CONFIGS = sorted(MODELS_DIR.glob("*.toml"))


# ---- registry --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_plans_each_backend(path: Path) -> None:
    cfg = load_model_config(path)
    published = {r.model for r in published_rows()}
    assert cfg.published in published
    assert cfg.images.max_images >= 3
    assert cfg.system_text == SEED_SYSTEM_PROMPT  # the seed paper's prompt for every seed row
    for kind, backend in cfg.backends.items():
        if backend.model is None:  # custom-code weights: refuses without a converted path, says why
            with pytest.raises(ValueError, match="--model-path"):
                plan(cfg, kind)
            p = plan(cfg, kind, model_path="/models/converted")
        else:
            p = plan(cfg, kind)
        assert p.kind == kind
        if kind in API_KINDS:
            assert p.eval_command(data="D", split="test", out="o") is None
            continue
        from evaluator.runner import model_arguments

        args = model_arguments(p.evaluator_backend, p.model_args)  # the evaluator accepts what the plan gives
        assert int(args["max_images"]) == 3
        if kind == "vllm" and cfg.images.max_pixels:
            assert args["mm_processor_kwargs"]["max_pixels"] == cfg.images.max_pixels
        cmd = p.eval_command(data="D", split="test", out="o")
        assert cmd.startswith(f"scale-vqa eval --model {p.evaluator_backend} ") and f"--name {cfg.name}" in cmd
    assert cfg.command().startswith(f"scale-vqa baselines run {cfg.key} ")


def test_shipped_configs_use_the_seed_format_and_the_processor_budget() -> None:
    for cfg in model_configs().values():
        assert cfg.prompt_format.value == "seed"
        assert cfg.images.max_pixels is None and cfg.images.min_pixels is None, cfg.key
        if "server" in cfg.backends:
            assert "max_pixels" not in (cfg.backend("server").serve or ""), cfg.key
    cfg = find_model_config("qwen2.5-vl-7b")
    assert "--prompt-format" not in plan(cfg, "hf").eval_command(data="D", split="test", out="o")
    p = plan(cfg, "hf", prompt_format="labelled", pixels={"max_pixels": 401408, "min_pixels": None})
    assert p.model_args["max_pixels"] == 401408 and "min_pixels" not in p.model_args
    cmd = p.eval_command(data="D", split="test", out="o")
    assert "--prompt-format labelled" in cmd and "max_pixels=401408" in cmd and "--system" not in cmd
    sft = plan(cfg, "vllm", prompt_format="seed_sft")  # seed_sft has no system turn: the config's is passed on
    assert sft.system is not None and "--system seed" in sft.eval_command(data="D", split="test", out="o")
    with pytest.raises(ValueError, match="unknown prompt format 'x'"):
        plan(cfg, "hf", prompt_format="x")


def test_the_registry_covers_the_seed_table() -> None:
    configs = model_configs()
    assert {c.published for c in configs.values()} == {r.model for r in published_rows()}
    assert find_model_config("ScaleReasoner-R1").key == "scalereasoner-r1"  # by row name, case-insensitive
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        find_model_config("nope")
    kinds = {k for c in configs.values() for k in c.backends}
    assert kinds == {"vllm", "hf", "server", "openai", "gemini", "dashscope"}


BAD_CONFIGS = [
    ("name = 'x'\nmodel_id = \n", 2, None, "not valid TOML"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'native'\ncolour = 1\n[backends.hf]\n", 4, "colour", "unknown key"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'native'\n[images]\nmax_images = 2\n[backends.hf]\n", 5,
     "images.max_images", "drop images"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'native'\n[generation]\ntemperature = true\n[backends.hf]\n", 5,
     "generation.temperature", "must be"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'native'\n[backends.tgi]\nmodel = 'm'\n", 4, "backends.tgi",
     "unknown backend"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'api'\n[backends.gemini]\n", 4, "backends.gemini",
     "needs the provider's model name"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'native'\npublished = 'GPT-6'\n[backends.hf]\n", 4, "published",
     "not a published row"),
    ("name = 'x'\nmodel_id = 'm'\nweights = 'custom-code'\n[backends.hf]\n", None, "notes", "what runs"),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD_CONFIGS)
def test_bad_config_names_file_line_and_field(tmp_path: Path, text: str, line: int | None, field: str | None,
                                              message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_model_config(path)
    problem = next(p for p in err.value.report.errors if message in p.message)
    assert problem.file == str(path) and problem.line == line and problem.field == field


def test_cli_list_show_and_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baselines", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["key"] for r in listed} == {p.stem for p in CONFIGS}
    assert main(["baselines", "show", "quilt-llava"]) == 0
    out = capsys.readouterr().out
    assert "What does not run" in out and "--model-path CONVERTED_DIR" in out
    assert main(["baselines", "run", "llava-med-7b", "--data", "d", "--out", "o"]) == 1
    assert "custom code" in capsys.readouterr().err
    assert main(["baselines", "run", "qwen2.5-vl-7b", "--backend", "server", "--base-url",
                 "http://127.0.0.1:9/v1/chat/completions", "--data", "d", "--out", "o", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["evaluator_backend"] == "openai" and dry["model_args"]["base_url"].startswith("http://127.0.0.1:9")
    assert main(["baselines", "run", "gpt-5.2", "--backend", "hf", "--data", "d", "--out", "o"]) == 1
    assert "no 'hf' backend" in capsys.readouterr().err


def test_api_rows_fail_clearly_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lm_eval")
    pytest.importorskip("openai")
    for env in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    key = tmp_path / "test.json"
    write_release(make_key(1), key)
    for model, env in (("gpt-5.2", "OPENAI_API_KEY"), ("gemini-3-flash", "GEMINI_API_KEY")):
        assert main(["baselines", "run", model, "--data", str(key), "--out", str(tmp_path / model)]) == 1
        assert env in capsys.readouterr().err
        assert not (tmp_path / model).exists()


# ---- published rows --------------------------------------------------------------------------------------------

def test_published_rows_are_consistent_with_the_table_design() -> None:
    rows = published_rows()
    assert len(rows) == 8 and all(r.source.split == "test" and r.n == 201 for r in rows)
    for r in rows:
        implied_avg = 100 * sum(r.counts.values()) / (201 * 5)
        assert round(implied_avg, 2) == pytest.approx(r.avg)
        lo, hi = r.ci(Dimension.CORRESPONDENCE)
        assert lo < r.counts[Dimension.CORRESPONDENCE] / 201 < hi
        exact = all(abs(100 * r.counts[d] / 201 - r.scores[d]) < 0.0051 for d in DIMENSIONS)
        assert exact == (not r.discrepancy), r.model  # every inconsistency is explained, nothing else is flagged


def test_a_reference_row_that_breaks_the_design_is_an_error(tmp_path: Path) -> None:
    src = (REFERENCE_DIR / "phan2026.toml").read_text(encoding="utf-8")
    bad = tmp_path / "ref.toml"
    bad.write_text(src.replace("correspondence = 41.79", "correspondence = 41.80"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_reference(bad)
    problem = err.value.report.errors[0]
    assert "Qwen2.5-VL-7B" in problem.message and "correspondence 41.8 is not k/201" in problem.message
    assert problem.line == src.splitlines().index('model = "Qwen2.5-VL-7B"') + 1


# ---- chance, measured and table --------------------------------------------------------------------------------

def test_chance_range_is_the_central_95_percent_of_the_binomial() -> None:
    for n in (90, 201, 450):
        mean, lo, hi = chance_range([0.25] * n)
        k_lo, k_hi = round(lo * n), round(hi * n)
        cdf = [sum(binomial_pmf(j, n, 0.25) for j in range(k + 1)) for k in range(n + 1)]
        assert mean == 0.25
        assert cdf[k_lo] >= 0.025 and (k_lo == 0 or cdf[k_lo - 1] < 0.025)
        assert cdf[k_hi] >= 0.975 and cdf[k_hi - 1] < 0.975
    row = chance_row(make_key(3), "test")
    assert row.avg.acc == 0.25 and row.avg.lo < 0.25 < row.avg.hi and row.kind == "chance"


def _measure(files: list[str], out: Path, *extra: str) -> int:
    return main(["baselines", "measure", *files, "--out", str(out), "--adversaries", "fast", "--quiet", *extra])


def test_measure_writes_rows_that_score_like_the_core(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    from tests.helpers.audit_data import edited_items

    items = edited_items(200, seed=3)
    src = tmp_path / "test.json"
    write_release(items, src)
    out = tmp_path / "measured"
    assert _measure([str(src)], out) == 0
    printed = capsys.readouterr().out
    assert "majority letter" in printed and "random (expected)" in printed
    rows = {r.name: r for r in folder_rows(out)}
    key = load_items(out / "key.json")
    for name, file in (("majority letter", "position_prior"), ("text-only: centroid_edit", "centroid_edit"),
                       ("random (seeded draw)", "random")):
        core = score(key, load_predictions(out / f"predictions_{file}.jsonl"))
        assert rows[name].avg.acc == pytest.approx(core.macro)
        assert rows[name].dims[Dimension.DIAGNOSIS].acc == pytest.approx(
            core.per_dimension[Dimension.DIAGNOSIS].accuracy.value)
    # the synthetic distractors are single edits of the gold: the centroid finds it, chance does not
    assert rows["text-only: centroid_edit"].avg.acc > 0.9
    assert rows["random (seeded draw)"].avg.acc < 0.5
    meta = json.loads((out / "run.json").read_text())
    assert meta["rows"]["position_prior"]["fit"].startswith("grouped 5-fold CV")
    # a split the user points at, fitted on another file: the trainable rows say so
    fit = tmp_path / "train.json"
    write_release(edited_items(100, seed=4), fit)
    assert _measure([str(src)], tmp_path / "m2", "--fit-on", str(fit)) == 0
    meta = json.loads((tmp_path / "m2" / "run.json").read_text())
    assert meta["rows"]["lr_dense"]["fit"] == f"fit on {fit}"


def test_measure_on_the_real_validation_split(val_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "val"
    assert _measure([str(val_path)], out) == 0
    rows = {r.name: r for r in folder_rows(out, with_chance=True)}
    assert rows["random (expected)"].avg.n == 450 and rows["random (expected)"].split == "validation"
    best = max((r for r in rows.values() if r.kind == "text-only"), key=lambda r: r.avg.acc)
    assert best.avg.lo > rows["random (expected)"].avg.hi  # text alone beats chance on the released data


def _fake_run(folder: Path, key: list, name: str, correct_std: int, correct_blind: int) -> None:
    """A run folder as `scale-vqa eval` writes it (predictions, key, run.json), without running a model."""
    folder.mkdir(parents=True)
    write_release(key, folder / "key.json")
    for group, n_right in (("scale_vqa", correct_std), ("scale_vqa_blind", correct_blind)):
        preds = {it.id: Prediction(None, f"<think>x</think> <answer>{it.answer if i < n_right else 'Z'}")
                 for i, it in enumerate(key)}
        write_predictions(preds, folder / f"predictions_{group}.jsonl")
    (folder / "run.json").write_text(json.dumps({"name": name, "split": "test", "backend": "vllm"}))


def test_table_keeps_published_and_measured_apart_and_exports_seed_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = make_key(4)
    run = tmp_path / "runs" / "qwen"
    _fake_run(run, key, "Qwen2.5-VL-7B", 15, 5)
    js, lb, png = tmp_path / "rows.json", tmp_path / "seed_rows.json", tmp_path / "table.png"
    args = ["baselines", "table", str(run), "--json", str(js), "--export-leaderboard", str(lb)]
    if _has("matplotlib"):
        args += ["--plot", str(png)]
    assert main(args) == 0
    out = capsys.readouterr().out
    published_at = out.index("### Published")
    measured_at = out.index("### Measured here — test split")
    assert published_at < measured_at
    assert "| Qwen2.5-VL-7B | 41.79 [35.2–48.7]" in out[:measured_at]  # published numbers carry over
    assert "| Qwen2.5-VL-7B (all scales) |" in out[measured_at:]
    assert "| Qwen2.5-VL-7B (blind: no images) |" in out[measured_at:]
    rows = json.loads(js.read_text())
    measured = {r["name"] + "|" + r["variant"]: r for r in rows if r["source"] == "measured"}
    core = score(key, load_predictions(run / "predictions_scale_vqa.jsonl"))
    assert measured["Qwen2.5-VL-7B|all scales"]["avg"]["acc"] == pytest.approx(core.macro)
    assert measured["random (expected)|"]["avg"]["acc"] == 0.25
    if args[-2] == "--plot":
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the leaderboard reads the export: published and measured rows keep their source and split
    from leaderboard_app.seed_rows import load_seed_rows

    seeds = load_seed_rows(lb)
    assert {s.source for s in seeds} == {"published", "baseline"}
    assert {s.name for s in seeds if s.source == "baseline"} == {
        "Qwen2.5-VL-7B (all scales)", "Qwen2.5-VL-7B (blind: no images)", "random (expected)"}


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_shipped_leaderboard_seed_rows_match_the_published_data() -> None:
    from leaderboard_app.seed_rows import SEED_ROWS_FILE

    expected = leaderboard_seed_rows([published_row(p) for p in published_rows()])
    assert json.loads(SEED_ROWS_FILE.read_text(encoding="utf-8")) == json.loads(json.dumps(expected)), (
        "regenerate: scale-vqa baselines table --export-leaderboard leaderboard_app/seed_rows.json")


def test_leaderboard_shows_only_seed_rows_of_the_keys_split(tmp_path: Path) -> None:
    from leaderboard_app.seed_rows import load_seed_rows
    from leaderboard_app.table import build_table

    path = tmp_path / "rows.json"
    rows = [published_row(p) for p in published_rows()] + [chance_row(make_key(2, "validation"), "validation")]
    path.write_text(json.dumps(leaderboard_seed_rows(rows)))
    seeds = load_seed_rows(path)
    test_rows = build_table([], make_key(2), split="test", seed_rows=seeds)
    assert [r.model for r in test_rows] == [p.model for p in published_rows()]
    assert all(r.source == "published" and r.rank is None and r.dim_cis for r in test_rows)
    val_rows = build_table([], make_key(2, "validation"), split="validation", seed_rows=seeds)
    assert [(r.model, r.source) for r in val_rows] == [("random (expected)", "baseline")]


def test_bad_seed_rows_file_names_row_and_field(tmp_path: Path) -> None:
    from leaderboard_app.seed_rows import load_seed_rows

    rows = leaderboard_seed_rows([published_row(published_rows()[0])])
    rows[0]["dimensions"]["diagnosis"]["acc"] = 63.68  # a percentage where a fraction belongs
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(InputError) as err:
        load_seed_rows(path)
    p = err.value.report.errors[0]
    assert (p.file, p.index, p.field) == (str(path), 0, "dimensions.diagnosis.acc")


def test_render_without_cis_and_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = render([published_row(p) for p in published_rows()], cis=False)
    assert "| ScaleReasoner-R1 | 80.60 | 89.05 | 84.58 | 76.12 | 84.08 | **82.89** | 1005 |" in text
    assert main(["baselines", "table", str(tmp_path / "nowhere")]) == 1
    assert "not a result folder" in capsys.readouterr().err


# ---- a row reproduced end to end (tiny random VLM, offline) -----------------------------------------------------

def _tiny_config(tmp_path: Path, tiny_vlm: Path, system: str = "none") -> Path:
    """The shipped ScaleReasoner-R1 config, pointed at the tiny model and with another system prompt."""
    text = (MODELS_DIR / "scalereasoner-r1.toml").read_text(encoding="utf-8")
    text = text.replace('system_prompt = "seed"', f'system_prompt = "{system}"')
    text = text.replace('args = { dtype = "bfloat16" }', 'args = { dtype = "float32" }')
    path = tmp_path / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_hf_backend_reproduces_a_row_end_to_end(tiny_vlm: Path, release: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lm_eval")
    config = _tiny_config(tmp_path, tiny_vlm)
    out = tmp_path / "run"
    assert main(["baselines", "run", str(config), "--backend", "hf", "--model-path", str(tiny_vlm),
                 "--data", str(release), "--split", "val", "--out", str(out), "--device", "cpu",
                 "--batch-size", "2", "--max-gen-toks", "12", "--quiet"]) == 0
    assert "ScaleReasoner-R1 (all scales)" in capsys.readouterr().out
    meta = json.loads((out / "run.json").read_text())
    assert meta["name"] == "ScaleReasoner-R1" and meta["system_prompt"] == ""
    assert meta["prompt_format"] == "seed" and "max_pixels" not in meta["model_args"]  # the processor's budget
    assert meta["image_budget"]["source"] == "processor default" and meta["image_budget"]["visual_tokens_per_image"]
    sample = json.loads((out / "samples_scale_vqa_diagnosis.jsonl").read_text().splitlines()[0])
    assert sample["doc"]["system"] == ""  # the config's system prompt ("none") reached the prompts
    rows = {r.variant: r for r in folder_rows(out)}
    assert set(rows) == {"all scales", "blind: no images"} and rows["all scales"].avg.n == 10


@pytest.mark.slow
def test_server_backend_reproduces_a_row_against_transformers_serve(tiny_vlm: Path, served_vlm: str, release: Path,
                                                                    tmp_path: Path) -> None:
    pytest.importorskip("lm_eval")
    from tests.helpers.tiny_llm import served_model

    text = _tiny_config(tmp_path, tiny_vlm, system="You are a careful pathologist.").read_text(encoding="utf-8")
    config = tmp_path / "served.toml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["baselines", "run", str(config), "--backend", "server", "--model-path", served_model(tiny_vlm),
                 "--base-url", f"{served_vlm}/chat/completions", "--data", str(release), "--split", "val",
                 "--out", str(out), "--tasks", "scale_vqa", "--limit", "1", "--max-gen-toks", "12",
                 "--quiet"]) == 0
    sample = json.loads((out / "samples_scale_vqa_localization.jsonl").read_text().splitlines()[0])
    assert sample["doc"]["system"] == "You are a careful pathologist."
    rows = folder_rows(out)
    assert [r.variant for r in rows] == ["all scales"] and rows[0].avg.n == 5
    assert json.loads((out / "run.json").read_text())["backend"] == "openai"
