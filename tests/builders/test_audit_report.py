"""The audit's reports (JSON, Markdown, HTML through markdown-it-py, flags, plot, hard subset) and its command:
exit codes, the --fail-above gate, --fit-on, bad arguments and files."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("sklearn")

from baselines.text_only.registry import resolve
from builders.audit.engine import run_audit
from builders.audit.report import html_page, write_reports, write_subset
from scale_vqa.cli import main
from scale_vqa.release import load_items, write_release
from tests.helpers.audit_data import edited_items, mixed, one_thread, random_items  # noqa: F401

PANEL = ["heuristics", "learned"]
DIMENSION_KEYS = {"all", "correspondence", "confirmation", "localization", "explanation", "diagnosis"}


@pytest.fixture(scope="module")
def small_audit():
    """One audit of 100 edit-leaky items with the fast panel and the residual, shared by the report tests."""
    return run_audit(edited_items(100), resolve(["fast"]), permutations=200, progress=False, residual=True)


def test_reports_are_written_and_readable(small_audit, tmp_path):
    audit = small_audit
    paths = write_reports(audit, tmp_path)
    data = json.loads(paths["json"].read_text())
    first = data["adversaries"][0]
    assert set(first["accuracy"]) == DIMENSION_KEYS
    assert all(0 <= v <= 1 for v in first["accuracy"].values())
    assert first["stats"]["all"]["ci"][0] <= first["accuracy"]["all"] <= first["stats"]["all"]["ci"][1]
    assert data["fit"]["grouped_folds"] == 5 and data["fit"]["group_by"] == "wsi_name"
    assert "GroupKFold" in data["fit"]["splitter"]
    html = paths["html"].read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "<h2>Per-item flags</h2>" in html
    rules = [line for line in paths["markdown"].read_text().splitlines() if line[:2] in ("|-", "|:")]
    assert html.count("<table>") == len(rules) >= 4  # every Markdown table became an HTML table
    assert "per_dimension.png" not in html  # the plot is inlined
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flags = [json.loads(line) for line in paths["flags"].read_text().splitlines()]
    assert len(flags) == 100 and sum(f["flagged"] for f in flags) == audit.calibration.flagged
    assert all(f["gold_votes"] == len(f["picked_gold"]) for f in flags)
    md = paths["markdown"].read_text()
    assert "### What each adversary does" in md and "`joint_bm25` | structure | items sharing one option set" in md
    assert data["file_structure"]["shared_sets"] == 0
    assert "no two items share an option set, so the `joint_*` adversaries answer each item alone" in md


def test_html_keeps_code_spans_literal_and_escapes_html():
    page = html_page("# T\n\n`*` = above chance; *shuffled* <b>x</b>\n\n| a | b |\n|---|---|\n| `x*y` | 2 |\n", None)
    assert "<code>*</code> = above chance; <em>shuffled</em> &lt;b&gt;x&lt;/b&gt;" in page
    assert "<td><code>x*y</code></td>\n<td>2</td>" in page and "<h1>T</h1>" in page
    assert "<th>a</th>" in page and page.startswith("<!doctype html>")


def test_report_files_keep_the_umask_modes(small_audit, tmp_path, umask_022):
    out = tmp_path / "report"
    write_reports(small_audit, out)
    write_subset(small_audit, out / "hard.json")
    assert umask_022(out) == {"dirs": {0o755}, "files": {0o644}}


# ---- CLI -------------------------------------------------------------------------------------------------


def test_cli_audit_real_val(val_path, tmp_path, capsys):
    out = tmp_path / "audit"
    subset = tmp_path / "hard.json"
    rc = main(["audit", str(val_path), "--adversaries", "fast", "--out", str(out), "--quiet",
               "--permutations", "300", "--write-subset", str(subset)])
    text = capsys.readouterr().out
    assert rc == 0
    for code in ("type_A", "type_E", "per-item flags", "generator artifacts", "hard subset"):
        assert code in text
    data = json.loads((out / "audit.json").read_text())
    assert data["n_items"] == 450 and data["fit"]["grouped_folds"] == 5
    best = max(data["adversaries"], key=lambda a: a["accuracy"]["all"])
    assert best["accuracy"]["all"] > 0.4 and best["stats"]["all"]["p_value"] < 1e-6
    kept = load_items(subset)
    construction = json.loads((tmp_path / "hard.construction.json").read_text())
    assert len(kept) == construction["n_kept"] == 450 - data["flags"]["flagged"]
    assert construction["threshold"] == data["flags"]["k"] and construction["seed"] == 0
    assert len(construction["source_sha256"]) == 64
    flagged = {json.loads(line)["id"] for line in (out / "flags.jsonl").read_text().splitlines()
               if json.loads(line)["flagged"]}
    assert not flagged & {it.id for it in kept}


def test_cli_fail_above_gate(tmp_path, capsys):
    leaky = tmp_path / "new_mcqs.json"
    write_release(mixed(50, 100), leaky)
    args = ["audit", str(leaky), "--adversaries", ",".join(PANEL), "--out", str(tmp_path / "o"), "--quiet",
            "--permutations", "200", "--no-shuffle-check"]
    assert main([*args, "--fail-above", "0.08"]) == 3
    assert "exceeds 8.0%" in capsys.readouterr().err
    assert main([*args, "--fail-above", "100%"]) == 0
    clean = tmp_path / "clean.json"
    write_release(random_items(120), clean)
    assert main(["audit", str(clean), *args[2:], "--fail-above", "8%"]) == 0


def test_cli_fit_on(tmp_path, capsys):
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    write_release(edited_items(150, seed=1), train)
    write_release([it.with_(id=f"x{i}") for i, it in enumerate(edited_items(80, seed=2))], test)
    rc = main(["audit", str(test), "--fit-on", str(train), "--adversaries", "lr_dense,centroid_jacc",
               "--out", str(tmp_path / "o"), "--quiet", "--permutations", "200"])
    out = capsys.readouterr().out
    assert rc == 0 and f"fitted on {train}" in out
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    lr = next(a for a in data["adversaries"] if a["name"] == "lr_dense")
    assert lr["fit"] == f"fit on {train}" and lr["accuracy"]["all"] > 0.8
    assert data["fit"]["grouped_folds"] is None and "splitter" not in data["fit"]


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--adversaries", "centroid,nope"], 2, "unknown adversary 'centroid'"),
    (["--fail-above", "abc"], 2, "not a fraction"),
    (["--fail-above", "150%"], 2, "within 0–1"),
    (["--folds", "1"], 2, "at least 2 folds"),
    (["--split", "val"], 1, "at least 2 slides"),  # 20 items from one slide cannot be cross-fitted
])
def test_cli_bad_arguments(tmp_path, capsys, argv, code, message):
    f = tmp_path / "x.json"
    write_release(edited_items(20, slides=1), f)
    try:
        rc = main(["audit", str(f), "--out", str(tmp_path / "o"), "--quiet", *argv])
    except SystemExit as exc:
        rc = exc.code
    assert rc == code
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_malformed_file_names_file_and_line(tmp_path, capsys):
    f = tmp_path / "broken.json"
    f.write_text('[\n  {"question": "q", "options": {"A": "x", "B": "y"}, "answer": "C"}\n]\n')
    assert main(["audit", str(f), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "broken.json" in err and ":2" in err and "answer" in err
    assert not (tmp_path / "o").exists()


def test_cli_missing_extra_is_a_usage_error(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rapidfuzz" else real(name, *a))
    assert main(["audit", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "rapidfuzz" in err and 'pip install ".[audit]"' in err


def test_demo_step_audits_the_demo_release(tmp_path, capsys):
    """The demo's step 5 (the whole demo runs in tests/test_cli.py)."""
    from builders.audit.cli import demo_step
    from scale_vqa.demo import write_demo

    paths = write_demo(tmp_path / "demo")
    assert demo_step(tmp_path / "demo", paths) == 0
    text = capsys.readouterr().out
    assert "== 5. scale-vqa audit" in text and "60 items" in text and "grouped 3-fold CV by slide" in text
    assert (tmp_path / "demo" / "audit" / "report.html").is_file()


def test_cli_list(capsys):
    assert main(["audit", "x.json", "--list"]) == 0
    out = capsys.readouterr().out
    assert "centroid_char" in out and "clogit_all" in out and "emb_centroid" in out
    assert all(name in out for name in ("option_frequency", "qo_tfidf", "joint_emb", "lr_match", "gbm_match+emb"))


def test_report_describes_shared_option_sets():
    from builders.audit.report import console_table
    from tests.helpers.audit_data import matched_blocks

    audit = run_audit(matched_blocks(15, cue="hub"), resolve(["joint_bm25", "qo_bm25", "option_frequency"]),
                      permutations=100, progress=False, shuffle_check=False)
    assert audit.structure == {"recurring_texts": 60, "max_frequency": 4, "shared_sets": 15,
                               "items_in_shared_sets": 60, "largest_shared_set": 4}
    text = console_table(audit)
    assert "60 items share their option set with others (15 sets, the largest of 4 items)" in text
    acc = {a.name: a.stats["all"].accuracy for a in audit.adversaries}
    assert acc["joint_bm25"] > 0.9 > 0.4 > acc["qo_bm25"]
