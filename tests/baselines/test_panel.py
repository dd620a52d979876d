"""The adversary panel: grouped folds (scikit-learn's GroupKFold by slide), the shuffled-options check, the worker
processes, the panel's arguments and its refusals."""

from __future__ import annotations

import argparse

import pytest

pytest.importorskip("sklearn")

from baselines.text_only.panel import PanelError, grouped_folds, run_panel, shuffle_options, slide_groups
from baselines.text_only.panel_args import add_panel_arguments
from baselines.text_only.registry import resolve
from tests.helpers.audit_data import edited_items, mixed, one_thread, random_items  # noqa: F401


def assert_slides_whole(items, folds) -> None:
    """Every item is scored once, and no slide is on both sides of a fold."""
    assert sorted(i for f in folds for i in f) == list(range(len(items)))
    groups = slide_groups(items)
    seen: dict[str, int] = {}
    for k, fold in enumerate(folds):
        for i in fold:
            assert seen.setdefault(groups[i], k) == k


def test_grouped_folds_never_split_a_slide():
    items = edited_items(130, slides=13)
    folds = grouped_folds(items, 5, seed=0)
    assert len(folds) == 5
    assert_slides_whole(items, folds)
    assert grouped_folds(items, 5, seed=0) == folds  # reproducible
    assert len(grouped_folds(edited_items(30, slides=3), 5, 0)) == 3  # at most one fold per slide
    with pytest.raises(PanelError, match="at least 2 slides"):
        grouped_folds(edited_items(10, slides=1), 5, 0)
    with pytest.raises(PanelError, match="at least 2 folds"):
        grouped_folds(items, 1, 0)


def test_grouped_folds_balance_items_and_break_ties_by_seed():
    """Largest slide first into the lightest fold; equally sized slides in a seeded order (the folds of the
    hand-written splitter that GroupKFold replaced)."""
    sizes = {"big": 9, "mid": 6, **{f"s{k}": 3 for k in range(6)}}
    items = [it.with_(wsi_name=name) for it, name in zip(
        edited_items(sum(sizes.values())), [n for n, c in sizes.items() for _ in range(c)], strict=True)]
    folds = grouped_folds(items, 3, seed=0)
    assert_slides_whole(items, folds)
    assert [len(f) for f in folds] == [12, 12, 9]
    slides = [sorted({items[i].wsi_name for i in f}) for f in folds]
    assert slides == [["big", "s5"], ["mid", "s0", "s4"], ["s1", "s2", "s3"]]
    by_seed = {tuple(tuple(sorted({items[i].wsi_name for i in f})) for f in grouped_folds(items, 3, seed))
               for seed in range(6)}
    assert len(by_seed) > 1  # the seed decides among equally sized slides


def test_shuffle_options_moves_the_gold_with_its_text():
    it = edited_items(1)[0]
    sh = shuffle_options(it, 1)
    assert sh.options != it.options and sorted(sh.options) == sorted(it.options)
    assert sh.option_map[sh.answer] == it.option_map[it.answer]


def test_shuffle_check_separates_content_from_position():
    biased = [it.with_(answer="A") for it in random_items(200, seed=4)]
    results, _ = run_panel(biased, resolve(["position_prior", "centroid_jacc"]), progress=False)
    pp = {a.name: a for a in results}["position_prior"]
    assert pp.stats["all"].accuracy == 1.0
    assert pp.shuffled_stats.accuracy < 0.4 and pp.content_agreement < 0.4
    items = [it.with_(answer="A") if i % 2 else it for i, it in enumerate(edited_items(200))]
    items = [shuffle_options(it, 9) for it in items]  # gold spread over letters, still edit-leaky
    results, folds = run_panel(items, resolve(["centroid_jacc", "lr_dense"]), progress=False)
    assert len(folds) == 5
    for a in results:
        assert a.content_agreement > 0.9
        assert abs(a.shuffled_stats.accuracy - a.stats["all"].accuracy) < 0.1
    assert {a.name: a.fit for a in results} == {"centroid_jacc": "none", "lr_dense": "grouped 5-fold CV by slide"}


def test_panel_rejects_unusable_input():
    with pytest.raises(PanelError, match="no items"):
        run_panel([], resolve(["fast"]), progress=False)
    with pytest.raises(PanelError, match="2 slides"):
        run_panel(edited_items(20, slides=1), resolve(["fast"]), progress=False)
    with pytest.raises(PanelError, match="no items to fit on"):
        run_panel(edited_items(20), resolve(["lr_dense"]), fit_items=[], fit_name="empty.json", progress=False)


def test_worker_processes_give_identical_results():
    items = mixed(20, 60)
    specs = resolve(["centroid_jacc", "lr_dense", "gbm_dense", "position_prior"])
    one, folds = run_panel(items, specs, progress=False, jobs=1)
    two, same_folds = run_panel(items, specs, progress=False, jobs=2)
    assert folds == same_folds
    assert [a.name for a in one] == [a.name for a in two]
    assert [a.letters for a in one] == [a.letters for a in two]


def test_panel_arguments_refuse_fewer_than_two_folds(capsys):
    parser = argparse.ArgumentParser()
    add_panel_arguments(parser)
    assert parser.parse_args(["x.json", "--folds", "3"]).folds == 3
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["x.json", "--folds", "1"])
    assert exc.value.code == 2 and "at least 2 folds" in capsys.readouterr().err
