"""The table's exports and plot with hostile names already in a database (rows stored before names were checked):
CSV cells that a spreadsheet would run are escaped (OWASP), every field stays readable by ``csv.reader``, and plot
labels never go through mathtext."""

from __future__ import annotations

import csv
import io
import json

import pytest

from leaderboard_app.table import MAX_CELL, TableRow, csv_text, to_csv, to_json
from scale_vqa.dimensions import DIMENSIONS

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "=cmd|' /C calc'!A0", "@SUM(1,1)", "+1+1", "-2+3", "\tTab",
           "\rCR", "Top$^$Model", "x" * 200_000]


def row(model: str, submitter: str = "sub", rank: int = 1, gain: float | None = -0.05) -> TableRow:
    dims = tuple(0.5 for _ in DIMENSIONS)
    return TableRow(rank, model, "measured", submitter, "https://x.org", 0.5, (0.4, 0.6), dims,
                    tuple((0.4, 0.6) for _ in DIMENSIONS), 0.5, 1.0, 0.55, False, rank, gain)


def test_csv_escapes_formula_cells_and_stays_readable():
    table = [row(name, submitter=name, rank=i) for i, name in enumerate(HOSTILE, 1)]
    records = list(csv.reader(io.StringIO(to_csv(table))))  # the default field limit (131072) holds
    header, body = records[0], records[1:]
    model, submitter, gain = header.index("model"), header.index("submitter"), header.index("image_gain")
    assert len(body) == len(HOSTILE)
    for name, rec in zip(HOSTILE, body, strict=True):
        for cell in (rec[model], rec[submitter]):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
            assert len(cell) <= MAX_CELL + 1
        if name[0] in "=+-@\t\r":
            assert rec[model] == "'" + name
        assert rec[gain] == "-0.05"  # numbers stay numbers
    assert body[-1][model].endswith("…") and body[-2][model] == "Top$^$Model"


def test_csv_text():
    assert csv_text("Qwen2.5-VL-7B") == "Qwen2.5-VL-7B" and csv_text("-x") == "'-x"
    assert csv_text("=1+1") == "'=1+1" and len(csv_text("y" * 5000)) == MAX_CELL


def test_json_export_keeps_names_and_numbers():
    data = json.loads(to_json([row("=1+1")]))
    assert data[0]["model"] == "=1+1" and data[0]["image_gain"] == -0.05


@pytest.mark.parametrize("names", [["Top$^$Model"], ["$x^$", "a$b$c_", "_hidden", "\\frac{1}{0}$", "$$"]])
def test_plot_renders_names_with_dollar_signs_as_text(names):
    pytest.importorskip("matplotlib")
    from leaderboard_app.app import plot_top

    fig = plot_top([row(name, rank=i) for i, name in enumerate(names, 1)])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # mathtext would raise ValueError here
    assert buf.getvalue().startswith(b"\x89PNG")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [label.lstrip() for label in labels] == names
