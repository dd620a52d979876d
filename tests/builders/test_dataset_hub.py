"""`scale-vqa push` (as far as it goes offline) and `scale_vqa.load`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import scale_vqa
from builders.dataset.export import build_dataset
from scale_vqa.cli import main
from scale_vqa.demo import make_demo_release


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("hub")
    make_demo_release(tmp / "demo")
    build_dataset(tmp / "demo", tmp / "out", images=tmp / "demo" / "images", progress=False)
    return tmp / "out"


def _cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process with no Hugging Face token and a private HF_HOME."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "TRANSFORMERS_OFFLINE"}
    clean.update(HF_HOME=str(tmp_path / "hf_home"), **env)
    return subprocess.run([sys.executable, "-m", "scale_vqa", *args], capture_output=True, text=True, env=clean,
                          timeout=120)


def test_push_offline_is_a_clear_error(built, tmp_path) -> None:
    res = _cli(["push", str(built), "--repo-id", "someone/scale-vqa"], tmp_path, HF_HUB_OFFLINE="1",
               HF_TOKEN="hf_not_a_real_token")
    assert res.returncode == 1
    assert "HF_HUB_OFFLINE is set" in res.stderr and "Traceback" not in res.stderr


def test_push_without_token_is_a_clear_error(built, tmp_path) -> None:
    res = _cli(["push", str(built), "--repo-id", "someone/scale-vqa"], tmp_path)
    assert res.returncode == 1
    assert "no Hugging Face token" in res.stderr and "Traceback" not in res.stderr


def test_push_to_an_unreachable_hub_is_a_clear_error(built, tmp_path) -> None:
    res = _cli(["push", str(built), "--repo-id", "someone/scale-vqa", "--token", "hf_not_a_real_token"], tmp_path,
               HF_ENDPOINT="http://127.0.0.1:9")
    assert res.returncode == 1
    assert "upload of" in res.stderr and "failed" in res.stderr and "Traceback" not in res.stderr


def test_push_refuses_a_folder_that_is_not_a_verified_build(built, tmp_path, capsys) -> None:
    assert main(["push", str(tmp_path), "--repo-id", "a/b"]) == 1
    assert "not a built dataset folder" in capsys.readouterr().err
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "README.md").write_text("changed")
    assert main(["push", str(copy), "--repo-id", "a/b"]) == 1
    assert "does not match its checksums" in capsys.readouterr().err


def test_load_a_built_folder(built, tmp_path) -> None:
    val = scale_vqa.load("val", source=built, cache_dir=str(tmp_path / "cache"))
    assert val.num_rows == 60 and val[0]["id"] == "val-00001"
    everything = scale_vqa.load(None, source=str(built), cache_dir=str(tmp_path / "cache"))
    assert list(everything) == ["validation"]


def test_load_explains_bad_sources(built, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SCALE_VQA_DATASET", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no source → the official release; never reach the real Hub
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ValueError, match="no dataset source"):
        scale_vqa.load("validation")
    release = built.parent / "demo"
    with pytest.raises(ValueError, match="scale-vqa build"):
        scale_vqa.load("validation", source=release)
    with pytest.raises(ValueError, match="neither an existing folder nor a Hub dataset id"):
        scale_vqa.load("validation", source=str(tmp_path / "no" / "such" / "folder"))
    monkeypatch.setenv("SCALE_VQA_DATASET", str(built))
    assert scale_vqa.load("validation", cache_dir=str(tmp_path / "cache")).num_rows == 60


def test_load_a_hub_id_offline_fails_fast(tmp_path) -> None:
    code = ("import scale_vqa\ntry:\n    scale_vqa.load('validation', source='nobody-xyz/no-such-dataset')\n"
            "except Exception as exc:\n    print('FAILED', type(exc).__name__)\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    clean.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean, timeout=120)
    assert "FAILED" in res.stdout, res.stderr
