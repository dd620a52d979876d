"""Scoring: per-dimension accuracy, macro/micro, strict accuracy, format rate, missing, CircularEval."""

from __future__ import annotations

import json
import random

import pytest

from scale_vqa.cli import main
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.predictions import Prediction, write_predictions
from scale_vqa.prompt import circular_items, rotation_id
from scale_vqa.release import write_release
from scale_vqa.scoring import compare, judge, score
from tests.helpers.items import make_item, make_key

SEED_ROW = {  # ScaleReasoner-R1 on the 1005-item test split: correct of 201 per dimension -> printed value
    Dimension.CORRESPONDENCE: (162, "80.60"),
    Dimension.CONFIRMATION: (179, "89.05"),
    Dimension.LOCALIZATION: (170, "84.58"),
    Dimension.EXPLANATION: (153, "76.12"),
    Dimension.DIAGNOSIS: (169, "84.08"),
}


def wrong_letter(gold: str) -> str:
    return "ABCD"[("ABCD".index(gold) + 1) % 4]


def seed_like_predictions(key, rng: random.Random) -> dict[str, Prediction]:
    """Exactly SEED_ROW correct per dimension, in mixed submission styles."""
    preds: dict[str, Prediction] = {}
    for dim in DIMENSIONS:
        items = [i for i in key if i.dimension is dim]
        right = set(rng.sample(range(len(items)), SEED_ROW[dim][0]))
        for j, item in enumerate(items):
            letter = item.answer if j in right else wrong_letter(item.answer)
            style = j % 3
            if style == 0:
                preds[item.id] = Prediction.of_letter(letter)
            elif style == 1:
                preds[item.id] = Prediction.of_output(f"<think>t</think> <answer>{letter}</answer>")
            else:
                preds[item.id] = Prediction(letter=letter, output=f"<think>t</think> <answer>{letter}")
    return preds


def test_seed_row_reproduced_by_cli(tmp_path, capsys) -> None:
    key = make_key(201)
    assert len(key) == 1005
    key_path, pred_path = tmp_path / "test.json", tmp_path / "scalereasoner.jsonl"
    write_release(key, key_path)
    write_predictions(seed_like_predictions(key, random.Random(7)), pred_path)
    assert main(["score", "--predictions", str(pred_path), "--key", str(key_path), "--name", "ScaleReasoner-R1"]) == 0
    out = capsys.readouterr().out
    table_row = next(line for line in out.splitlines() if line.startswith("| ScaleReasoner-R1"))
    cells = [c.strip() for c in table_row.strip("|").split("|")]
    assert cells == ["ScaleReasoner-R1", "80.60", "89.05", "84.58", "76.12", "84.08", "82.89"]
    assert out.splitlines()[0] == "| Model | Corresp. | Confirm. | Localiz. | Explan. | Diagno. | **AVG** |"

    assert main(["score", "-p", str(pred_path), "-k", str(key_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["scalereasoner"]
    for dim, (correct, shown) in SEED_ROW.items():
        row = data["per_dimension"][dim.value]
        assert (row["correct"], row["n"]) == (correct, 201)
        assert f"{100 * row['acc']:.2f}" == shown
        lo, hi = row["ci95"]
        assert lo < row["acc"] < hi
    assert f"{100 * data['macro']['acc']:.2f}" == "82.89"
    assert data["micro"]["correct"] == sum(c for c, _ in SEED_ROW.values())
    assert data["missing"] == []


def test_macro_differs_from_micro_with_unequal_dimensions() -> None:
    key = [make_item(i, Dimension.CORRESPONDENCE, "A") for i in range(1, 11)]
    key.append(make_item(11, Dimension.DIAGNOSIS, "A"))
    preds = {item.id: Prediction.of_letter("A") for item in key[:5]}  # half of A right, E wrong
    rep = score(key, preds)
    assert rep.per_dimension[Dimension.CORRESPONDENCE].accuracy.value == 0.5
    assert rep.per_dimension[Dimension.DIAGNOSIS].accuracy.value == 0.0
    assert rep.macro == pytest.approx(0.25)
    assert rep.micro.value == pytest.approx(5 / 11)
    assert set(rep.per_dimension) == {Dimension.CORRESPONDENCE, Dimension.DIAGNOSIS}


def test_missing_unparsed_invalid_conflict_and_unknown_are_reported_and_wrong() -> None:
    key = [make_item(i, Dimension.LOCALIZATION, "B") for i in range(1, 7)]
    preds = {
        key[0].id: Prediction.of_letter("B"),                                # right
        key[1].id: Prediction.of_output("<answer>Benign</answer>"),          # unparsed
        key[2].id: Prediction.of_letter("E"),                                # not an option
        key[3].id: Prediction(letter="B", output="<answer>C</answer>"),      # contradiction
        key[4].id: Prediction.of_output("Answer: B"),                        # lenient right
        "test-99999": Prediction.of_letter("A"),                             # not in key
    }
    rep = score(key, preds)
    assert rep.micro.correct == 2
    assert rep.strict_micro.correct == 1  # the lenient answer is not strict
    assert rep.ids_with("unparsed") == [key[1].id]
    assert rep.ids_with("invalid") == [key[2].id]
    assert rep.ids_with("conflict") == [key[3].id]
    assert rep.missing == [key[5].id]
    assert rep.unknown_ids == ["test-99999"]
    # format rate counts raw outputs only: 3 outputs, none in the seed format
    assert rep.n_outputs == 3 and rep.format_ok == 0 and rep.format_rate == 0.0


def test_letter_only_predictions_have_no_format_rate() -> None:
    key = make_key(2)
    rep = score(key, {i.id: Prediction.of_letter(i.answer) for i in key})
    assert rep.micro.value == 1.0 and rep.strict_micro.value == 1.0
    assert rep.format_rate is None


def test_judge_strict_and_format() -> None:
    item = make_item(1, Dimension.DIAGNOSIS, "C")
    good = judge(item, Prediction.of_output("<think>x</think><answer>C</answer>"))
    assert good.correct and good.strict and good.format_ok
    stripped = judge(item, Prediction.of_output("<think>x</think><answer>C"))
    assert stripped.correct and stripped.strict and stripped.format_ok
    lenient = judge(item, Prediction.of_output("The answer is C"))
    assert lenient.correct and not lenient.strict and lenient.format_ok is False
    assert not judge(item, None).correct


def test_five_option_item_accepts_E() -> None:
    item = make_item(1, Dimension.DIAGNOSIS, "E", n_options=5)
    assert judge(item, Prediction.of_letter("E")).correct
    assert judge(item, Prediction.of_output("<answer>E</answer>")).correct


def test_circular_eval_counts_an_item_only_if_every_rotation_is_right() -> None:
    key = [make_item(1, Dimension.EXPLANATION, "B"), make_item(2, Dimension.EXPLANATION, "D"),
           make_item(3, Dimension.EXPLANATION, "A")]
    preds: dict[str, Prediction] = {}
    for item in key:
        for rot in circular_items(item):
            preds[rot.id] = Prediction.of_letter(rot.answer)
    # item 2: one rotation wrong; item 3: one rotation missing
    r2 = circular_items(key[1])[2]
    preds[r2.id] = Prediction.of_letter(wrong_letter(r2.answer))
    del preds[rotation_id(key[2].id, 3)]
    rep = score(key, preds, circular=True)
    assert rep.circular
    assert [r.correct for r in rep.results] == [True, False, False]
    assert rep.ids_with("partial") == [key[2].id]
    # plain scoring of the same predictions sees rotation 0 only and gets all three right
    assert score(key, preds).micro.correct == 3


def test_compare_paired_reports() -> None:
    key = make_key(20)
    good = {i.id: Prediction.of_letter(i.answer) for i in key}
    bad = {i.id: Prediction.of_letter(wrong_letter(i.answer)) for i in key}
    test = compare(score(key, good), score(key, bad))
    assert test.only_a == len(key) and test.only_b == 0
    assert test.p_value < 1e-10
    assert compare(score(key, good), score(key, good)).p_value == 1.0
    with pytest.raises(ValueError):
        compare(score(key, good), score(key[:-1], good))


def test_cli_score_rows_and_paired_test(tmp_path, capsys) -> None:
    key = make_key(10)
    write_release(key, tmp_path / "val.json")
    write_predictions({i.id: Prediction.of_letter(i.answer) for i in key}, tmp_path / "vlm.jsonl")
    write_predictions({i.id: Prediction.of_letter("A") for i in key}, tmp_path / "blind.jsonl")
    code = main(["score", "-p", str(tmp_path / "vlm.jsonl"), "-p", str(tmp_path / "blind.jsonl"),
                 "-k", str(tmp_path / "val.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "| vlm | 100.00 |" in out and "| blind |" in out
    assert "paired tests against vlm" in out and "McNemar" in out


def test_cli_score_rejects_bad_predictions_file(tmp_path, capsys) -> None:
    key = make_key(1)
    write_release(key, tmp_path / "val.json")
    (tmp_path / "p.jsonl").write_text('{"id": "val-00001", "prediction": "B"}\nnot json\n{"id": 3}\n')
    assert main(["score", "-p", str(tmp_path / "p.jsonl"), "-k", str(tmp_path / "val.json")]) == 1
    err = capsys.readouterr().err
    assert "p.jsonl:2" in err and "invalid JSON" in err
    assert "p.jsonl:3" in err and "id" in err


def test_cli_score_rejects_bad_key(tmp_path, capsys) -> None:
    (tmp_path / "val.json").write_text('[{"question": "q"}]')
    (tmp_path / "p.jsonl").write_text('{"id": "val-00001", "prediction": "B"}\n')
    assert main(["score", "-p", str(tmp_path / "p.jsonl"), "-k", str(tmp_path / "val.json")]) == 1
    assert "options" in capsys.readouterr().err


def test_cli_score_warns_when_ids_do_not_match_the_key(tmp_path, capsys) -> None:
    key = make_key(2)
    write_release(key, tmp_path / "test.json")
    write_predictions({f"val-{i:05d}": Prediction.of_letter("A") for i in range(1, 11)}, tmp_path / "p.jsonl")
    assert main(["score", "-p", str(tmp_path / "p.jsonl"), "-k", str(tmp_path / "test.json")]) == 0
    captured = capsys.readouterr()
    assert "10 of 10 prediction ids are not in the key" in captured.err
    assert "missing (counted wrong): 10" in captured.out
