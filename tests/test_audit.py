"""The audit: grouped cross-fitting, statistics, artifact checks in both directions, calibrated flags, the
shuffle check, the hard subset, reports and the CLI."""

from __future__ import annotations

import json
import math
import random

import pytest

pytest.importorskip("sklearn")

from baselines.text_only.registry import resolve
from builders.audit.artifacts import artifact_checks, edit_profile
from builders.audit.engine import AuditError, grouped_folds, run_audit, shuffle_options, slide_groups
from builders.audit.flags import calibrate, choice_counts
from builders.audit.report import write_reports
from scale_vqa.cli import main
from scale_vqa.leakstats import leak_stat
from scale_vqa.release import load_items, write_release
from tests.helpers.audit_data import edited_items, random_items

FAST = ["fast"]
PANEL = ["heuristics", "learned"]


def permuted_gold(items, seed):
    """Same items with gold letters redrawn uniformly at random: the text no longer points at the gold."""
    rng = random.Random(seed)
    return [it.with_(answer=rng.choice(it.letters)) for it in items]


def test_grouped_folds_never_split_a_slide():
    items = edited_items(130, slides=13)
    folds = grouped_folds(items, 5, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(130))
    groups = slide_groups(items)
    seen = {}
    for k, fold in enumerate(folds):
        for i in fold:
            assert seen.setdefault(groups[i], k) == k
    with pytest.raises(AuditError, match="at least 2 slides"):
        grouped_folds(edited_items(10, slides=1), 5, 0)


def test_leak_stat_matches_definitions():
    s = leak_stat([True] * 60 + [False] * 40, [4] * 100)
    assert s.accuracy == 0.6 and s.chance == 0.25
    assert s.kappa == pytest.approx((0.6 - 0.25) / 0.75)
    assert s.ci[0] < 0.6 < s.ci[1]
    assert s.kappa_ci[0] == pytest.approx((s.ci[0] - 0.25) / 0.75)
    assert s.p_value < 1e-10
    below = leak_stat([False] * 100, [4] * 100)
    assert below.p_value == 1.0 and below.text_solvable == 0.0 and below.kappa < 0
    mixed = leak_stat([True, False, False], [2, 4, 5])
    assert mixed.chance == pytest.approx((1 / 2 + 1 / 4 + 1 / 5) / 3)
    assert mixed.p_value == pytest.approx(1 - (1 / 2) * (3 / 4) * (4 / 5))


def test_artifact_checks_detect_both_directions():
    items = edited_items(200)
    by = {c.name: c for c in artifact_checks(items)}
    assert by["gold_most_central_edit"].direction == "above"
    assert by["gold_edit_hub"].direction == "above"
    assert by["gold_least_central"].direction == "below"
    assert by["gold_least_central"].rate < by["gold_least_central"].chance
    # gold always the shortest option → "shortest" above, "longest" below chance
    shortest_gold = []
    for it in random_items(200, seed=3):
        lengths = [len(o) for o in it.options]
        shortest_gold.append(it.with_(answer=it.letters[lengths.index(min(lengths))]))
    by = {c.name: c for c in artifact_checks(shortest_gold)}
    assert by["gold_shortest"].direction == "above"
    assert by["gold_longest"].direction == "below" and by["gold_longest"].hits == 0
    clean = {c.name: c for c in artifact_checks(random_items(400, seed=5))}
    assert clean["gold_most_central_edit"].direction == "chance"
    assert clean["gold_shortest"].direction == "chance"


def test_letter_balance_and_edit_profile():
    items = [it.with_(answer="B") for it in random_items(100)]
    by = {c.name: c for c in artifact_checks(items)}
    assert by["letter_B"].direction == "above" and by["letter_A"].direction == "below"
    prof = edit_profile(edited_items(50)).to_dict()
    assert prof["gold_share"] == 1.0 and prof["other_share"] < 0.5


def test_calibration_controls_false_flags_on_permuted_gold(val_path):
    """On the real items with gold letters randomly permuted, the calibrated flags stay at ≤ 5 %."""
    items = load_items(val_path)
    specs = resolve(FAST)
    rates = []
    for seed in range(4):
        audit = run_audit(permuted_gold(items, seed), specs, seed=seed, permutations=500, shuffle_check=False,
                          progress=False)
        rates.append(audit.calibration.leak_rate)
        assert audit.calibration.false_flag_rate_permuted <= 0.05
        assert audit.calibration.false_flag_rate_uniform <= 0.05
    assert sum(rates) / len(rates) <= 0.05
    assert max(rates) <= 0.08


def mixed(n_leaky: int, n_clean: int) -> list:
    """Edit-leaky items (ids L…) among items without text signal (ids C…)."""
    return ([it.with_(id=f"L{i}") for i, it in enumerate(edited_items(n_leaky, seed=1))]
            + [it.with_(id=f"C{i}") for i, it in enumerate(random_items(n_clean, seed=2))])


def test_flags_find_leaky_items():
    items = mixed(30, 270)
    audit = run_audit(items, resolve(PANEL), permutations=500, shuffle_check=False, progress=False)
    flagged_leaky = sum(f for f, it in zip(audit.flags, items, strict=True) if it.id.startswith("L"))
    flagged_clean = sum(f for f, it in zip(audit.flags, items, strict=True) if it.id.startswith("C"))
    assert flagged_leaky >= 15
    assert flagged_clean <= 0.05 * 270
    assert audit.calibration.flagged > audit.calibration.expected_false_flags


def test_calibration_threshold_is_exact_for_a_known_panel():
    # every adversary votes for option A on every item: under the uniform null a flag is right 1/4 of the time,
    # so no threshold reaches 5 % and nothing may be flagged
    items = random_items(80)
    counts = choice_counts(items, [["A"] * 80] * 6)
    cal, flags = calibrate(items, counts, 6, permutations=200)
    assert cal.k == 7 and not flags.any()
    assert cal.rate_by_k[5][2] == pytest.approx(0.25)


def test_shuffle_check_separates_content_from_position():
    items = [it.with_(answer="A") if i % 2 else it for i, it in enumerate(edited_items(200))]
    items = [shuffle_options(it, 9) for it in items]  # gold spread over letters, still edit-leaky
    biased = [it.with_(answer="A") for it in random_items(200, seed=4)]
    audit = run_audit(biased, resolve(["position_prior", "centroid_jacc"]), permutations=200, progress=False)
    pp = {a.name: a for a in audit.adversaries}["position_prior"]
    assert pp.stats["all"].accuracy == 1.0
    assert pp.shuffled_stats.accuracy < 0.4 and pp.content_agreement < 0.4
    audit = run_audit(items, resolve(["centroid_jacc", "lr_dense"]), permutations=200, progress=False)
    for a in audit.adversaries:
        assert a.content_agreement > 0.9
        assert abs(a.shuffled_stats.accuracy - a.stats["all"].accuracy) < 0.1


def test_shuffle_options_moves_the_gold_with_its_text():
    it = edited_items(1)[0]
    sh = shuffle_options(it, 1)
    assert sh.options != it.options and sorted(sh.options) == sorted(it.options)
    assert sh.option_map[sh.answer] == it.option_map[it.answer]


def test_fit_on_other_split_and_residual_is_not_circular():
    train, test = edited_items(200, seed=1), edited_items(100, seed=2)
    test = test + random_items(100, seed=3)
    test = [it.with_(id=f"t{i}") for i, it in enumerate(test)]
    audit = run_audit(test, resolve(["heuristics", "lr_dense"]), fit_items=train, fit_name="train.json",
                      permutations=300, progress=False, residual=True)
    lr = {a.name: a for a in audit.adversaries}["lr_dense"]
    assert lr.fit == "fit on train.json"
    assert audit.folds is None
    loo = {r.name: r for r in audit.residual if r.method == "leave-one-out"}
    # leave-one-out: recompute the subset selected without lr_dense and score lr_dense on it
    others = [a.letters for a in audit.adversaries if a.name != "lr_dense"]
    _, flags = calibrate(test, choice_counts(test, others), len(others), permutations=300, seed=0)
    keep = [i for i, f in enumerate(flags) if not f]
    assert loo["lr_dense"].n == len(keep)
    assert loo["lr_dense"].stats["all"].correct == sum(lr.correct[i] for i in keep)
    assert any(r.method == "refit" and r.name == "lr_dense" for r in audit.residual)


def test_audit_rejects_unusable_input():
    with pytest.raises(AuditError, match="no items"):
        run_audit([], resolve(FAST), progress=False)
    with pytest.raises(AuditError, match="2 slides"):
        run_audit(edited_items(20, slides=1), resolve(FAST), progress=False)


def test_reports_are_written_and_readable(tmp_path):
    audit = run_audit(edited_items(100), resolve(FAST), permutations=200, progress=False, residual=True)
    paths = write_reports(audit, tmp_path)
    data = json.loads(paths["json"].read_text())
    first = data["adversaries"][0]
    assert set(first["accuracy"]) == {"all", "correspondence", "confirmation", "localization", "explanation",
                                      "diagnosis"}
    assert all(0 <= v <= 1 for v in first["accuracy"].values())
    assert first["stats"]["all"]["ci"][0] <= first["accuracy"]["all"] <= first["stats"]["all"]["ci"][1]
    html = paths["html"].read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "<h2>Per-item flags</h2>" in html
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flags = [json.loads(line) for line in paths["flags"].read_text().splitlines()]
    assert len(flags) == 100 and sum(f["flagged"] for f in flags) == audit.calibration.flagged
    assert all(f["gold_votes"] == len(f["picked_gold"]) for f in flags)


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
    lr = next(a for a in json.loads((tmp_path / "o" / "audit.json").read_text())["adversaries"]
              if a["name"] == "lr_dense")
    assert lr["fit"] == f"fit on {train}" and lr["accuracy"]["all"] > 0.8


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--adversaries", "centroid,nope"], 2, "unknown adversary 'centroid'"),
    (["--fail-above", "abc"], 2, "not a fraction"),
    (["--fail-above", "150%"], 2, "within 0–1"),
])
def test_cli_bad_arguments(tmp_path, capsys, argv, code, message):
    f = tmp_path / "x.json"
    write_release(edited_items(20), f)
    try:
        rc = main(["audit", str(f), "--out", str(tmp_path / "o"), *argv])
    except SystemExit as exc:
        rc = exc.code
    assert rc == code
    assert message in capsys.readouterr().err


def test_cli_malformed_file_names_file_and_line(tmp_path, capsys):
    f = tmp_path / "broken.json"
    f.write_text('[\n  {"question": "q", "options": {"A": "x", "B": "y"}, "answer": "C"}\n]\n')
    assert main(["audit", str(f), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "broken.json" in err and ":2" in err and "answer" in err
    assert not (tmp_path / "o").exists()


def test_cli_list(capsys):
    assert main(["audit", "x.json", "--list"]) == 0
    out = capsys.readouterr().out
    assert "centroid_char" in out and "clogit_all" in out and "emb_centroid" in out


def test_implied_share_matches_kappa():
    s = leak_stat([True] * 70 + [False] * 30, [4] * 100)
    # acc = s + (1 - s)/K  ⇒  s = κ
    assert pytest.approx(s.text_solvable + (1 - s.text_solvable) / 4) == 0.7
    assert math.isclose(s.text_solvable, s.kappa)


def test_worker_processes_give_identical_results():
    items = mixed(20, 60)
    specs = resolve(["centroid_jacc", "lr_dense", "gbm_dense", "position_prior"])
    one = run_audit(items, specs, permutations=200, progress=False, jobs=1)
    two = run_audit(items, specs, permutations=200, progress=False, jobs=2)
    assert [a.name for a in one.adversaries] == [a.name for a in two.adversaries]
    assert [a.letters for a in one.adversaries] == [a.letters for a in two.adversaries]
    assert one.flags == two.flags


def test_html_keeps_code_spans_literal():
    from builders.audit.report import html_page

    page = html_page("# T\n\n`*` = above chance; *shuffled* <b>x</b>\n\n| a | b |\n|---|---|\n| `x*y` | 2 |\n", None)
    assert "<code>*</code> = above chance; <em>shuffled</em> &lt;b&gt;x&lt;/b&gt;" in page
    assert "<td><code>x*y</code></td><td>2</td>" in page and "<h1>T</h1>" in page


def test_items_with_different_option_counts():
    items = [it.with_(id=f"k3-{i}") for i, it in enumerate(edited_items(60, seed=1, n_options=3))]
    items += [it.with_(id=f"k6-{i}") for i, it in enumerate(edited_items(60, seed=2, n_options=6))]
    audit = run_audit(items, resolve(["centroid_jacc", "lr_dense", "position_prior"]), permutations=200,
                      progress=False)
    s = {a.name: a for a in audit.adversaries}["centroid_jacc"].stats["all"]
    assert s.chance == pytest.approx((1 / 3 + 1 / 6) / 2)
    assert s.kappa == pytest.approx((s.accuracy - s.chance) / (1 - s.chance))
    letters = {c.name for c in artifact_checks(items) if c.name.startswith("letter_")}
    assert letters == {f"letter_{x}" for x in "ABCDEF"}
