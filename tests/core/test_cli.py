"""The scale-vqa command line: help without heavy imports, demo, exit codes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zlib

import pytest

from scale_vqa.cli import command_entry_points, main
from scale_vqa.release import load_items

HEAVY = ("torch", "numpy", "datasets", "lm_eval", "gradio", "transformers", "PIL", "openslide", "trl", "pandas",
         "vllm", "huggingface_hub", "sklearn", "scipy", "matplotlib", "yaml", "pydantic")
"""Libraries ``scale-vqa --help`` must not import (the spokes' light ``cli`` modules may load)."""

PROBE = """
import sys
from scale_vqa.cli import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = {heavy!r}
print("LOADED:" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_help_imports_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                         check=True).stdout
    assert "usage: scale-vqa" in out
    for command in ("validate", "score", "demo"):
        assert command in out
    assert out.strip().splitlines()[-1] == "LOADED:"


def test_every_command_module_registers_a_runnable_command() -> None:
    from scale_vqa.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {ep.name for ep in command_entry_points()}
    assert {"validate", "score", "demo", "build", "audit", "eval", "train", "leaderboard"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert callable(p.get_default("run")), name


def test_python_dash_m_and_console_script() -> None:
    res = subprocess.run([sys.executable, "-m", "scale_vqa", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("scale-vqa ")
    exe = shutil.which("scale-vqa")
    if exe is None:
        pytest.skip("package not installed (no scale-vqa on PATH)")
    res = subprocess.run([exe, "validate", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--images" in res.stdout


def test_no_command_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def _png_ok(data: bytes) -> bool:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos, kinds = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        if zlib.crc32(tag + body) & 0xFFFFFFFF != crc:
            return False
        kinds.append(tag)
        pos += 12 + length
    return kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds


def test_demo_runs_offline_and_scores(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "OK" in text and "| simulated VLM |" in text and "| simulated blind |" in text
    assert "McNemar" in text
    items = load_items(out / "release" / "val.json", image_root=out / "release" / "images")
    assert len(items) == 60 and len({i.dimension for i in items}) == 5
    assert any(i.images.high_mag is None for i in items)
    pngs = list((out / "release" / "images").rglob("*.png"))
    assert len(pngs) == sum(len(i.images.present()) for i in items) // 5
    assert all(_png_ok(p.read_bytes()) for p in pngs)
    # scoring the demo's predictions through the CLI gives the same macro as the demo printed
    assert main(["score", "-p", str(out / "predictions" / "simulated_vlm.jsonl"),
                 "-k", str(out / "release" / "val.json"), "--json"]) == 0
    macro = json.loads(capsys.readouterr().out)["simulated_vlm"]["macro"]["acc"]
    assert f"| {100 * macro:.2f} |" in text
    if importlib.util.find_spec("lm_eval") and importlib.util.find_spec("torch"):  # step 7: a real lm-eval run
        assert "| tiny-random-vlm (all scales) |" in text and "image gain (all scales − no images)" in text
        preds = (out / "eval-run" / "predictions_scale_vqa_single_high.jsonl").read_text().splitlines()
        assert len(preds) == 60  # the region without a 20× view ran on the text path
    if importlib.util.find_spec("sklearn"):  # steps 9-10: measured baselines beside the published rows
        measured, published = text.rindex("### Measured here — validation split"), text.index("### Published")
        assert published < measured and "| ScaleReasoner-R1 | 80.60 |" in text[published:measured]
        assert "| majority letter |" in text[measured:] and "| random (expected) | 25.00 |" in text[measured:]
    # a second run replaces the demo folder; a foreign folder is never overwritten
    assert main(["demo", "--out", str(out), "--seed", "3"]) == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    capsys.readouterr()
    assert main(["demo", "--out", str(foreign)]) == 1
    assert "not a Scale-VQA demo folder" in capsys.readouterr().err
    assert (foreign / "keep.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
