"""The core's single homes for shared mechanics: variants and labels, the lm-eval samples reader, the ``<think>``
parser, Markdown tables and config validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scale_vqa.config import ConfigError, read_toml, toml_lines, validate_config
from scale_vqa.markdown import markdown_table
from scale_vqa.parse import reasoning_text, think_blocks
from scale_vqa.samples import read_samples, sample_output
from scale_vqa.variants import GROUPS, LABELS, Variant, group_label, group_name, group_order, group_suffix


def test_every_group_has_a_variant_a_label_and_round_trips() -> None:
    assert set(GROUPS) == set(LABELS)
    for suffix, variant in GROUPS.items():
        group = group_name(suffix)
        assert group_suffix(group) == suffix and group_label(group) == LABELS[suffix]
        assert isinstance(variant, Variant) and variant.description
    assert group_label("scale_vqa") == "all scales" and group_label("scale_vqa_single_high") == "20× only"
    assert group_order("scale_vqa") < group_order("scale_vqa_blind") < group_order("nonsense")
    assert group_label("scale_vqa_future") == "future"
    assert Variant.BLIND.scales == () and len(Variant.STANDARD.scales) == 3


def test_samples_reader_prefers_filtered_resps_and_reports_each_bad_line() -> None:
    rows = [{"doc": {"id": "a"}, "resps": [["raw"]], "filtered_resps": ["<answer>B</answer>"]},
            {"doc": {"id": "b"}, "resps": [["<answer>C"]]},
            {"doc": {}, "resps": [["x"]]},
            {"doc": {"id": "a"}, "resps": [["dup"]]},
            {"no": "doc"}]
    text = "\n".join(json.dumps(r) for r in rows) + "\n{broken\n"
    samples, problems = read_samples(text)
    assert [(s.id, s.output, s.line) for s in samples] == [("a", "<answer>B</answer>", 1), ("b", "<answer>C", 2)]
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6"]
    assert "doc.id missing" in problems[0] and "duplicate id 'a'" in problems[1]
    assert sample_output({"resps": [[]]}) is None


def test_think_parser() -> None:
    text = "<think>one</think> mid <THINK>two\nlines</THINK> <answer>A</answer>"
    assert think_blocks(text) == ["one", "two\nlines"]
    assert reasoning_text(text) == "one\ntwo\nlines"
    assert reasoning_text("no reasoning here") == "no reasoning here"


def test_markdown_table_aligns_and_escapes() -> None:
    table = markdown_table(["Model", "AVG"], [["a|b", 1.5]], "lc")
    assert table.splitlines() == ["| Model | AVG |", "|-------|:---:|", "| a\\|b | 1.5 |"]
    with pytest.raises(ValueError, match="row has 1 cells"):
        markdown_table(["a", "b"], [["x"]])


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Gen(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        max_tokens: int = 16

    class Row(pydantic.BaseModel):
        name: str

    class Config(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        name: str
        generation: Gen = Gen()
        rows: list[Row] = pydantic.Field(default_factory=list)

    path = tmp_path / "model.toml"
    path.write_text('name = "m"\n\n[generation]\nmax_tokens = "many"\nmax_tokns = 3\n\n[[rows]]\nname = "ok"\n'
                    '[[rows]]\nname = 5\n', encoding="utf-8")
    data, lines = read_toml(path)
    assert lines["rows.1.name"] == 10 and lines["generation"] == 3
    with pytest.raises(ConfigError) as exc:
        validate_config(Config, data, path, lines)
    text = str(exc.value)
    assert exc.value.exit_code == 1
    assert f"{path}:4: error: generation.max_tokens:" in text and "'many'" in text
    assert f"{path}:5: error: generation.max_tokns: unknown key" in text
    assert f"{path}:10: error: rows.1.name:" in text
    path.write_text('name = "m"\n[generation\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model.toml:2: error: not valid TOML"):
        read_toml(path)
    assert validate_config(Config, {"name": "x"}, path).generation.max_tokens == 16


def test_toml_lines_skip_multiline_strings() -> None:
    text = 'a = """\nb = 1\n"""\n[t]\n"quoted.key" = 2\nc.d = 3\n'
    assert toml_lines(text) == {"a": 1, "t": 4, "t.quoted.key": 5, "t.c.d": 6}
