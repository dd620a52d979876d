"""``scale-vqa curate``: matched blocks, equivalence screen, review, hostile input, byte-identical output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from builders.curate.engine import CurateError, Settings, construct
from builders.curate.equivalence import screen
from builders.curate.judge import Verdict
from scale_vqa.cli import main
from scale_vqa.dimensions import Dimension
from scale_vqa.release import load_items, write_release
from tests.builders.curate_data import make_items
from tests.helpers.items import REPO

pytest.importorskip("sklearn")
FAST = Settings(k=4, seed=0, steps_per_item=40, embed_screen=False)


def _blocks(items):
    by = defaultdict(list)
    for it in items:
        by[frozenset(it.options)].append(it)
    return list(by.values())


def test_option_only_rules_get_exactly_one_per_block_by_construction() -> None:
    c = construct(make_items(8), FAST, progress=False)
    assert len(c.items) == 40 and not c.drops
    blocks = _blocks(c.items)
    assert len(blocks) == len(c.blocks) == 10
    rules = [lambda opts: max(opts, key=lambda t: (len(t), t)), lambda opts: min(opts), lambda opts: sorted(opts)[1]]
    for members in blocks:
        assert len(members) == 4
        assert len({it.dimension for it in members}) == 1
        assert len({it.wsi_name for it in members}) == 4
        assert sorted(it.answer for it in members) == list("ABCD")  # each letter one member's gold
        assert sorted(it.gold_text for it in members) == sorted(members[0].options)
        for rule in rules:  # any rule of the option set alone picks one text for all members: exactly one right
            assert sum(rule(frozenset(it.options)) == it.gold_text for it in members) == 1
        for pos in range(4):  # and any fixed letter is right exactly once
            assert sum(it.answer == "ABCD"[pos] for it in members) == 1
    # the frequency attackers break ties by text, so they too are rules of the option set: one right per block
    from baselines.text_only.panel import run_panel
    from baselines.text_only.registry import resolve
    from builders.curate.attacks import PairFeatures, rule_attacks

    for seed in range(3):
        for a in rule_attacks(c.items, PairFeatures({}, {}, {}), seed):
            assert sum(a.correct(c.items)) == len(blocks), a.name
        (r,) = run_panel(c.items, resolve(["option_frequency"]), folds=2, seed=seed, shuffle_check=False,
                         progress=False)[0]
        assert sum(x == it.answer for x, it in zip(r.letters, c.items, strict=True)) == len(blocks)
    source = {it.id: it for it in make_items(8)}
    for it in c.items:  # gold text, question, images, rationale kept
        src = source[it.id]
        assert (it.gold_text, it.question, it.images, it.rationale) == (src.gold_text, src.question, src.images,
                                                                        src.rationale)


def test_equivalence_screen_refuses_known_equivalent_golds() -> None:
    items = [it for it in make_items(8) if it.dimension is Dimension.DIAGNOSIS]
    items[5] = items[5].with_(options=("Invasive squamous cell carcinoma, keratinizing", *items[5].options[1:]))
    items[2] = items[2].with_(options=("Glioblastoma (diffuse high-grade glioma)", *items[2].options[1:]))
    scr = screen(items)
    assert any("same diagnosis: 'glioblastoma'" in r for r in scr.refused(0, 2))
    assert any("same diagnosis: 'invasive squamous cell carcinoma'" in r for r in scr.refused(1, 5))
    assert not scr.refused(3, 4)
    lexical = [it for it in make_items(8) if it.dimension is Dimension.LOCALIZATION][:3]
    lexical[1] = lexical[1].with_(options=(lexical[0].gold_text.upper() + ".", *lexical[1].options[1:]))
    lexical[2] = lexical[2].with_(options=(lexical[0].gold_text + " (focal)", *lexical[2].options[1:]))
    scr = screen(lexical)
    assert "identical" in scr.refused(0, 1)
    assert any(r.startswith("lexical") for r in scr.refused(0, 2))
    assert screen([*lexical[:1], make_items(8)[7]]).reasons == {}


def test_equivalent_and_judge_refused_golds_never_share_a_block() -> None:
    items = make_items(12, slides=12)
    diag = [i for i, it in enumerate(items) if it.dimension is Dimension.DIAGNOSIS]
    a, b = diag[0], diag[1]
    items[b] = items[b].with_(options=(items[a].gold_text, *items[b].options[1:]))  # a duplicate gold

    class Judge:
        def __init__(self) -> None:
            self.calls = 0

        def judge(self, pairs):
            self.calls += 1
            return [Verdict(x, y, {x, y} == {items[diag[2]].id, items[diag[3]].id} or
                            {x, y} == {items[diag[4]].id, items[diag[5]].id}, "A") for x, y, *_ in pairs]

    judge = Judge()
    c = construct(items, FAST, judge=judge, progress=False)  # type: ignore[arg-type]
    block = c.block_of
    assert judge.calls >= 1
    for x, y in ((a, b), (diag[2], diag[3]), (diag[4], diag[5])):
        ids = (items[x].id, items[y].id)
        assert not (ids[0] in block and ids[1] in block and block[ids[0]] == block[ids[1]])
    assert all(sum(o == it.gold_text for o in it.options) == 1 for it in c.items)


def test_too_few_slides_is_a_clear_error_or_recorded_drop() -> None:
    items = make_items(8)
    few = [it.with_(wsi_name="s0" if it.number % 2 else "s1") if it.dimension is Dimension.EXPLANATION else it
           for it in items]
    with pytest.raises(CurateError, match=r"drop 8 of 40.*only 2 slide\(s\), fewer than k = 4"):
        construct(few, FAST, progress=False)
    c = construct(few, Settings(k=4, steps_per_item=40, embed_screen=False, max_drop=0.25), progress=False)
    assert len(c.drops) == 8 and {d.dimension for d in c.drops} == {Dimension.EXPLANATION}
    assert all("fewer than k = 4" in d.reason for d in c.drops)


def _run(src: Path, out: Path, *extra: str) -> int:
    return main(["curate", str(src), "--out", str(out), "--steps", "40", "--no-embed", "--adversaries", "fast",
                 "--folds", "3", "--permutations", "50", "--quiet", *extra])


def test_cli_outputs_are_complete_and_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "val.json"
    write_release(make_items(8), src)
    assert _run(src, tmp_path / "a") == 0
    # the rerun is another process with another string-hash seed: no output may depend on set or dict order
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "scale_vqa.cli", "curate", str(src), "--out", str(tmp_path / "b"),
                          "--steps", "40", "--no-embed", "--adversaries", "fast", "--folds", "3", "--permutations",
                          "50", "--quiet"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["curated.json", "curation.json", "report.html", "report.md", "review.csv", "verification.png"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    curated = load_items(tmp_path / "a" / "curated.json")
    assert len(curated) == 40
    raw = json.loads((tmp_path / "a" / "curated.json").read_text())
    cur = raw[0]["extra_info"]["curation"]
    assert cur["strategy"] == "matched" and len(cur["source_ids"]) == 4 and raw[0]["id"] in cur["source_ids"]
    rec = json.loads((tmp_path / "a" / "curation.json").read_text())
    assert rec["seed"] == 0 and len(rec["sources"][0]["sha256"]) == 64 and len(rec["blocks"]) == 10
    cells = rec["verification"]["cells"]
    assert {c["dimension"] for c in cells} >= {"all", "diagnosis"}
    assert any(c["adversary"].startswith("curate:joint:") for c in cells)
    assert Counter(it.answer for it in curated) == Counter("ABCD" * 10)
    rows = list(csv.DictReader((tmp_path / "a" / "review.csv").open()))
    assert len(rows) == 10 and rows[0]["gold_4"]
    assert "TOST" in (tmp_path / "a" / "report.md").read_text()


def test_apply_review_reblocks_rejected_pairs_and_names_bad_lines(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "val.json"
    write_release(make_items(12, slides=12), src)
    assert _run(src, tmp_path / "a", "--no-verify") == 0
    rows = list(csv.DictReader((tmp_path / "a" / "review.csv").open()))
    rows[0]["reject"] = "1-2; 3-4"
    members = rows[0]["members"].split(" | ")
    review = tmp_path / "review.csv"
    with review.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert _run(src, tmp_path / "b", "--no-verify", "--apply-review", str(review)) == 0
    blocks = json.loads((tmp_path / "b" / "curation.json").read_text())["blocks"]
    for b in blocks:
        assert not {members[0], members[1]} <= set(b["members"])
        assert not {members[2], members[3]} <= set(b["members"])
    assert any(r["reasons"] == ["review"] for r in json.loads((tmp_path / "b" / "curation.json").read_text())[
        "refused_pairs"])
    rows[1]["reject"] = "1-9"
    with review.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert _run(src, tmp_path / "c", "--no-verify", "--apply-review", str(review)) == 1
    assert f"{review}:3: field 'reject': '1-9' names no two of the block's 4 golds" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_fail_above_gates_with_exit_3(tmp_path: Path) -> None:
    src = tmp_path / "val.json"
    write_release(make_items(8), src)
    assert _run(src, tmp_path / "a", "--adversaries", "none", "--fail-above", "0") == 3
    assert (tmp_path / "a" / "curation.json").is_file()  # the record is written before the gate


def test_out_never_replaces_a_folder_that_is_not_an_earlier_curation(tmp_path: Path, capsys) -> None:
    src = tmp_path / "val.json"
    write_release(make_items(8), src)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["curate", str(src), "--out", str(mine), "--no-embed", "--no-verify", "--quiet"]) == 1
    assert "was not made by `scale-vqa curate`" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["curate", str(src), "--out", str(empty), "--no-embed", "--no-verify", "--quiet"]) == 0
    assert main(["curate", str(src), "--out", str(empty), "--no-embed", "--no-verify", "--quiet"]) == 0  # a rerun
    assert (empty / "curated.json").is_file()


def test_ceiling_selects_against_the_verification_models_and_says_so(tmp_path: Path, capsys) -> None:
    """``--ceiling`` measures how far a block construction gets when it may optimise against its own verifier; the
    record, the report and the console say that its verification is not independent."""
    from builders.curate.similarity import VERIFY_LEXICAL

    src = tmp_path / "val.json"
    write_release(make_items(8), src)
    assert _run(src, tmp_path / "a", "--adversaries", "none") == 0
    assert "ceiling run" not in capsys.readouterr().out
    assert _run(src, tmp_path / "b", "--adversaries", "none", "--ceiling") == 0
    assert "ceiling run: selected against the verification models" in capsys.readouterr().out
    plain, ceiling = (json.loads((tmp_path / d / "curation.json").read_text()) for d in "ab")
    assert plain["ceiling"] is False and ceiling["ceiling"] is True
    names = [m["name"] for m in ceiling["similarity_models"]["selection"]]
    assert names == [m.name for m in VERIFY_LEXICAL] != [m["name"] for m in plain["similarity_models"]["selection"]]
    assert "Ceiling run" in (tmp_path / "b" / "report.md").read_text()
    assert "Ceiling run" not in (tmp_path / "a" / "report.md").read_text()
    # and it is never published as a config
    assert main(["build", "--release", str(tmp_path), "--out", str(tmp_path / "built"), "--allow-missing-images",
                 "--quiet", "--config", f"matched={tmp_path / 'b' / 'curated.json'}"]) == 1
    assert "made by `scale-vqa curate --ceiling`" in capsys.readouterr().err
    assert not (tmp_path / "built").exists()
    assert main(["build", "--release", str(tmp_path), "--out", str(tmp_path / "built"), "--allow-missing-images",
                 "--quiet", "--config", f"matched={tmp_path / 'a' / 'curated.json'}"]) == 0
    from builders.curate.dimension import DimensionBuilder

    dim = [it for it in make_items(8) if it.dimension is Dimension.DIAGNOSIS]
    qs, gs = [it.question for it in dim], [it.gold_text for it in dim]
    for ceiling in (False, True):
        b = DimensionBuilder(dim, Settings(ceiling=ceiling, embed_screen=False), {}, None, lambda m: None)
        verifiers = np.stack([m.matrix(qs, gs, 0) for m in VERIFY_LEXICAL])
        assert (b.sims.shape == verifiers.shape and np.allclose(b.sims, verifiers)) is ceiling
