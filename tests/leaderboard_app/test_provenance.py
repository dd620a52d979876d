"""Provenance and what readers ask of a leaderboard: an uploaded run.json (validated, stored, shown), prompt
formats never ranked together, model details with filters, the image gain's CI, the per-dimension view and the
matched-configuration column."""

from __future__ import annotations

import json
import random

import pytest

from leaderboard_app.provenance import read_run
from leaderboard_app.rules import Policy
from leaderboard_app.service import submit, submitted_variants
from leaderboard_app.store import SQLiteStore
from leaderboard_app.submission import SubmissionError
from leaderboard_app.table import HEADERS, build_table, display_rows, filter_table, headers, to_csv
from scale_vqa.variants import GROUPS, Variant
from tests.helpers.items import make_key

KEY = make_key(20)  # 100 items
LINK = "https://huggingface.co/org/model"
PUBLIC = Policy(private=False, quota=100)
RUN = {"name": "Model-7B", "backend": "hf", "model_id": "org/Model-7B", "model_revision": "0123456789abcdef0123",
       "scale_vqa_version": "0.1.0", "task_hash": "a" * 64, "command": "scale-vqa eval --model hf",
       "date": "2026-12-03T02:07:13Z", "timings": {"total_s": 3.2}}


def jsonl(right: float, seed: int) -> bytes:
    rng = random.Random(seed)
    rows = ({"id": it.id, "prediction": it.answer if rng.random() < right else
             rng.choice([x for x in it.letters if x != it.answer])} for it in KEY)
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def run_json(**changes) -> bytes:
    return json.dumps({**RUN, **changes}, indent=2).encode()


def cell(table, row, header: str) -> str:
    return display_rows(table)[table.index(row)][headers(table).index(header)]


def test_run_json_is_validated_stored_and_shown(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    out = submit(store, KEY, jsonl(0.8, 1), submitter="alice", model="Model-7B", link=LINK, policy=PUBLIC,
                 run=run_json(), now=1000)
    assert out.row.run == {k: RUN[k] for k in ("model_id", "model_revision", "scale_vqa_version", "task_hash",
                                               "command", "date")}
    submit(store, KEY, jsonl(0.7, 2), submitter="bob", model="Other-3B", link=LINK, policy=PUBLIC, now=1001)
    table = build_table(store.rows(), KEY)
    mine, other = (next(r for r in table if r.model == m) for m in ("Model-7B", "Other-3B"))
    assert cell(table, mine, "Provenance") == ("run.json: org/Model-7B@0123456789ab · scale-vqa 0.1.0 · "
                                               "2026-12-03")
    assert cell(table, other, "Provenance") == "self-reported (no run.json)"
    assert "org/Model-7B" in to_csv(table) and "a" * 64 in to_csv(table)


@pytest.mark.parametrize(("changes", "field"), [
    ({"task_hash": "not-a-hash"}, "task_hash"), ({"date": "yesterday"}, "date"),
    ({"date": "2026-12-03T02:07:13"}, "date"), ({"model_id": None}, "model_id"),
    ({"command": ""}, "command"), ({"prompt_format": "Seed Format!"}, "prompt_format"),
    ({"model_id": "<script>"}, "model_id")])
def test_a_bad_run_json_is_refused_naming_the_field(tmp_path, changes, field):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    with pytest.raises(SubmissionError) as err:
        submit(store, KEY, jsonl(0.8, 1), submitter="alice", model="Model-7B", link=LINK, policy=PUBLIC,
               run=run_json(**changes), now=1000)
    assert any(f"{field}:" in p and "run.json" in p for p in err.value.problems), err.value.render()
    assert store.rows(statuses=("published", "held", "retracted")) == []


def test_run_json_that_is_not_an_object_or_has_duplicate_keys_is_refused():
    for data, message in ((b"[1, 2]", "JSON object"), (b'{"model_id": "a", "model_id": "b"}', "not valid JSON"),
                          (b"\xff\xfe{\x00}\x00", "not valid JSON"), (b"{" * 5000, "not valid JSON")):
        with pytest.raises(SubmissionError, match=message):
            read_run(data)
    with pytest.raises(SubmissionError, match=r"run\.json is not valid") as err:
        read_run(json.dumps({"model_id": "x"}).encode())
    assert any("task_hash" in p and "Field required" in p for p in err.value.problems)


def test_prompt_formats_are_ranked_apart(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    for n, (fmt, right) in enumerate((("seed", 0.5), ("labelled", 0.9), ("seed", 0.7), (None, 0.95))):
        run = run_json(prompt_format=fmt) if fmt else None
        submit(store, KEY, jsonl(right, n), submitter=f"s{n}", model=f"Model-{n}", link=LINK, policy=PUBLIC,
               run=run, now=1000 + n)
    table = [r for r in build_table(store.rows(), KEY) if r.source == "measured"]
    assert [(r.prompt_format, r.rank, r.model) for r in table] == [
        ("seed", 1, "Model-2"), ("seed", 2, "Model-0"), ("labelled", 1, "Model-1"), ("unknown", 1, "Model-3")]
    assert not any(r.tied_with_above for r in table if r.rank == 1)  # never compared across formats
    assert [r.model for r in filter_table(table, prompt_format="seed")] == ["Model-2", "Model-0"]
    assert display_rows(table)[2][HEADERS.index("Prompt format")] == "labelled"


def test_model_details_are_checked_stored_and_filtered(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    details = [{"params_b": "7", "weights": "open", "licence": "apache-2.0", "released": "2025-06"},
               {"params_b": 72, "weights": "Closed", "licence": "", "released": "2026-01-15"}, {}]
    for n, info in enumerate(details):
        submit(store, KEY, jsonl(0.6 + 0.1 * n, n), submitter=f"s{n}", model=f"M-{n}", link=LINK, policy=PUBLIC,
               info=info, now=1000 + n)
    table = build_table(store.rows(), KEY)
    by = {r.model: r for r in table}
    assert by["M-0"].info == {"params_b": 7.0, "weights": "open", "licence": "apache-2.0", "released": "2025-06"}
    assert by["M-1"].info == {"params_b": 72.0, "weights": "closed", "released": "2026-01-15"}
    assert cell(table, by["M-0"], "Params (B)") == "7" and cell(table, by["M-1"], "Weights") == "closed"
    names = lambda rows: sorted(r.model for r in rows)  # noqa: E731
    assert names(filter_table(table, weights="open")) == ["M-0"]
    assert names(filter_table(table, min_params=10)) == ["M-1"]
    assert names(filter_table(table, max_params=10)) == ["M-0"]
    assert names(filter_table(table, licence="APACHE")) == ["M-0"]
    assert names(filter_table(table, released_from="2026")) == ["M-1"]
    for info, field in (({"params_b": "-3"}, "params_b"), ({"weights": "leaked"}, "weights"),
                        ({"licence": "=HYPERLINK(1)"}, "licence"), ({"released": "June 2025"}, "released"),
                        ({"colour": "red"}, "colour")):
        with pytest.raises(SubmissionError, match="model details") as err:
            submit(store, KEY, jsonl(0.5, 9), submitter="z", model="M-z", link=LINK, policy=PUBLIC, info=info)
        assert any(f"{field}:" in p for p in err.value.problems), err.value.render()


def test_image_gain_has_a_paired_ci_flagged_when_it_includes_zero(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    submit(store, KEY, jsonl(0.9, 1), submitter="a", model="Seer", link=LINK, policy=PUBLIC, now=1)
    submit(store, KEY, jsonl(0.3, 2), submitter="a", model="Seer", link=LINK, policy=PUBLIC, variant="blind", now=2)
    submit(store, KEY, jsonl(0.6, 3), submitter="b", model="Guesser", link=LINK, policy=PUBLIC, now=3)
    submit(store, KEY, jsonl(0.6, 4), submitter="b", model="Guesser", link=LINK, policy=PUBLIC, variant="blind",
           now=4)
    table = build_table(store.rows(), KEY)
    seer, guesser = (next(r for r in table if r.model == m) for m in ("Seer", "Guesser"))
    lo, hi = seer.gain_ci
    assert 0 < lo < seer.image_gain < hi and not seer.gain_uncertain
    assert "CI includes 0" not in cell(table, seer, "Image gain")
    lo, hi = guesser.gain_ci
    assert lo < 0 < hi and guesser.gain_uncertain
    assert cell(table, guesser, "Image gain").endswith("· CI includes 0")
    # under a private key the CI uses the disclosed numbers only (never per-item correctness)
    private = next(r for r in build_table(store.rows(), KEY, private=True) if r.model == "Seer")
    assert private.gain_ci[0] < private.image_gain < private.gain_ci[1]


def test_per_dimension_view_ranks_by_one_dimension(tmp_path):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    dim = KEY[0].dimension.value
    good_at_dim = "".join(json.dumps({"id": it.id, "prediction": it.answer if it.dimension.value == dim else
                                      next(x for x in it.letters if x != it.answer)}) + "\n" for it in KEY).encode()
    submit(store, KEY, jsonl(0.7, 1), submitter="a", model="Broad", link=LINK, policy=PUBLIC, now=1)
    submit(store, KEY, good_at_dim, submitter="b", model="Narrow", link=LINK, policy=PUBLIC, now=2)
    assert [r.model for r in build_table(store.rows(), KEY) if r.rank] == ["Broad", "Narrow"]
    assert [r.model for r in build_table(store.rows(), KEY, rank_by=dim) if r.rank] == ["Narrow", "Broad"]
    with pytest.raises(ValueError, match="rank_by"):
        build_table(store.rows(), KEY, rank_by="colour")


def test_matched_runs_are_accepted_and_get_their_own_column(tmp_path, monkeypatch):
    store = SQLiteStore(tmp_path / "lb.sqlite")
    submit(store, KEY, jsonl(0.7, 1), submitter="a", model="Mx", link=LINK, policy=PUBLIC, now=1)
    assert "Matched" not in headers(build_table(store.rows(), KEY))
    if "matched" not in GROUPS:  # the evaluator's matched groups (scale_vqa_matched, scale_vqa_matched_blind)
        monkeypatch.setitem(GROUPS, "matched", Variant.STANDARD)
        monkeypatch.setitem(GROUPS, "matched_blind", Variant.BLIND)
    assert submitted_variants()[-2:] == ("matched", "matched_blind")
    out = submit(store, KEY, jsonl(0.8, 2), submitter="a", model="Mx", link=LINK, policy=PUBLIC, now=2,
                 variant="matched")
    submit(store, KEY, jsonl(0.4, 3), submitter="a", model="Mx", link=LINK, policy=PUBLIC, now=3,
           variant="matched_blind")
    table = build_table(store.rows(), KEY)
    row = next(r for r in table if r.model == "Mx")
    assert row.matched == out.row.scores["macro"]["acc"] and row.macro != row.matched
    assert cell(table, row, "Matched") == f"{100 * row.matched:.1f}"
    assert [r.model for r in table if r.rank] == ["Mx"]  # the matched runs are a column, not rows
