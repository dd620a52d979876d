"""``scale-vqa fetch`` and ``scale_vqa.load`` without a source, against a Hub served on loopback
(:mod:`tests.helpers.fake_hub`) with the real ``huggingface_hub`` client."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("datasets")
from PIL import Image

import scale_vqa
from scale_vqa.cli import main
from tests.helpers.fake_hub import Repo, serve
from tests.helpers.release_files import record

OFFICIAL = "iMVR-PL/Scale-VQA"
SPLITS = {"train": (1, 2), "val": (3,), "test": (4, 5)}
"""Split file stem → the triplets (5 items each) it holds."""
TYPES = ("type_A", "type_B", "type_C", "type_D", "type_E")


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256)).save(buf, "JPEG")
    return buf.getvalue()


def triplet_paths(t: int) -> dict[str, str]:
    """Image paths of triplet `t`, named as the published release names them (10/40/200 = 1×/4×/20×)."""
    wsi = f"TCGA-{t % 2:02d}"
    return {key: f"{wsi}/rois/{mag}_{t}.5y_{t * 100}x.jpg"
            for key, mag in (("low_mag", 10), ("mid_mag", 40), ("high_mag", 200))}


def release_files(*, drop: tuple[str, ...] = ()) -> dict[str, bytes]:
    """A tiny release laid out like the published one: data/{train,val,test}.json, images under <wsi>/rois/,
    a dataset card and an image no split references."""
    files: dict[str, bytes] = {"README.md": b"---\nlicense: other\n---\n# Scale-VQA\n",
                               ".gitattributes": b"*.jpg filter=lfs diff=lfs merge=lfs -text\n",
                               "TCGA-09/rois/10_unused.jpg": jpeg(999)}
    for stem, triplets in SPLITS.items():
        records = []
        for t in triplets:
            paths = triplet_paths(t)
            for k, kind in enumerate(TYPES):
                no = len(records) + 1
                records.append(record(no, {"question": f"Triplet {t}, question {k}: which structure is seen?",
                                           "image_path": paths, "extra_info.question_type": kind,
                                           "extra_info.wsi_name": paths["low_mag"].split("/")[0],
                                           "extra_info.path_id": f"path{t}"}))
            for i, path in enumerate(paths.values()):
                files[path] = jpeg(t * 3 + i)
        files[f"data/{stem}.json"] = json.dumps(records, indent=1).encode()
    for path in drop:
        del files[path]
    return files


@pytest.fixture
def hf_env(tmp_path, monkeypatch) -> Path:
    """A fresh Hugging Face home, no token, online; returns the home."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SCALE_VQA_DATASET",
                 "SCALE_VQA_REVISION"):
        monkeypatch.delenv(name, raising=False)
    return home


def fetch(hub, monkeypatch, *args: str) -> int:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    return main(["fetch", *args, "--quiet"])


def test_fetch_build_and_load_dataset(hf_env, tmp_path, monkeypatch, capsys) -> None:
    repo = Repo(OFFICIAL, release_files())
    raw, built = tmp_path / "raw", tmp_path / "built"
    with serve(repo) as hub:
        assert fetch(hub, monkeypatch, "--out", str(raw), "--build", str(built)) == 0
    out = capsys.readouterr().out
    assert f"commit {repo.commit}" in out and "built" in out
    record_ = json.loads((raw / "fetch.json").read_text())
    wanted = {p for p in repo.files if p.startswith("data/") or ("rois/" in p and "unused" not in p)}
    assert record_["repo_id"] == OFFICIAL and record_["revision"] == "main" and record_["commit"] == repo.commit
    assert record_["files"] == len(wanted) == 3 + 5 * 3
    assert record_["bytes"] == sum(len(repo.files[p]) for p in wanted)
    assert record_["missing_images"] == []
    fetched = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert fetched == wanted | {"fetch.json"}  # the card and the unreferenced image were never downloaded
    assert not any(p.endswith(("README.md", "unused.jpg")) for p in hub.paths())
    # the endpoints the client used: repo info, the paginated listing, file metadata and bytes
    assert ("GET", f"/api/datasets/{OFFICIAL}/revision/main") in hub.requests
    assert sum(p.startswith(f"/api/datasets/{OFFICIAL}/tree/{repo.commit}") for p in hub.paths("GET")) > 1
    assert {p for p in hub.paths("GET") if "/resolve/" in p} == {
        f"/datasets/{OFFICIAL}/resolve/{repo.commit}/{p}" for p in wanted}

    from datasets import load_dataset

    ds = load_dataset(str(built), cache_dir=str(tmp_path / "cache"))
    assert {name: ds[name].num_rows for name in ds} == {"train": 10, "validation": 5, "test": 10}
    row = ds["test"][0]
    assert all(isinstance(row[k], Image.Image) and row[k].size == (16, 16)
               for k in ("low_mag", "mid_mag", "high_mag"))
    assert row["low_mag_path"] == triplet_paths(4)["low_mag"]


def test_fetch_only_the_chosen_splits_and_their_images(hf_env, tmp_path, monkeypatch) -> None:
    repo = Repo(OFFICIAL, release_files())
    raw = tmp_path / "raw"
    with serve(repo) as hub:
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 0
    record_ = json.loads((raw / "fetch.json").read_text())
    assert record_["split_files"] == {"validation": "data/val.json"} and record_["files"] == 1 + 3
    assert sorted(p for p in hub.paths("GET") if "/resolve/" in p) == sorted(
        f"/datasets/{OFFICIAL}/resolve/{repo.commit}/{p}" for p in ["data/val.json", *triplet_paths(3).values()])


def test_resume_after_the_server_is_killed_mid_download(hf_env, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the client's retry back-off: no real waiting
    repo = Repo(OFFICIAL, release_files())
    raw = tmp_path / "raw"
    with serve(repo, cut_at_get=8) as hub:
        assert fetch(hub, monkeypatch, "--out", str(raw)) == 1
        port = hub.port
    assert "rerun the same command to resume" in capsys.readouterr().err
    assert hub.dead and not (raw / "fetch.json").exists()
    done = {p for p in repo.files if (raw / p).is_file()}
    assert done and len(done) < 18  # some files finished before the cut, not all
    with serve(repo, port=port) as hub2:
        assert fetch(hub2, monkeypatch, "--out", str(raw)) == 0
    again = {p.split(f"/resolve/{repo.commit}/", 1)[1] for p in hub2.paths("GET") if "/resolve/" in p}
    assert again and not again & done  # finished files are not downloaded again
    assert json.loads((raw / "fetch.json").read_text())["files"] == 18
    assert all((raw / p).read_bytes() == repo.files[p] for p in done | again)


@pytest.mark.parametrize("case", ["404", "401", "gated", "revision", "network"])
def test_hub_errors_name_the_cause_and_the_fix(case, hf_env, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    repo = Repo(OFFICIAL, release_files(), token="hf_secret" if case in ("401", "gated") else None,
                gated=case == "gated")
    args = ["--out", str(tmp_path / "raw")]
    args += {"404": ["--repo-id", "nobody/no-such-set"], "revision": ["--revision", "v9"]}.get(case, [])
    with serve(repo) as hub:
        if case == "network":
            hub.stop()
        assert fetch(hub, monkeypatch, *args) == 1
    err = capsys.readouterr().err
    expected = {
        "404": "dataset repository nobody/no-such-set not found at",
        "401": f"the Hub refused {OFFICIAL} without a token (401): it is private or gated; log in with "
               "`hf auth login` or set HF_TOKEN",
        "gated": f"{OFFICIAL} is gated and no Hugging Face token is set: accept its conditions at "
                 f"{hub.url}/datasets/{OFFICIAL}, then log in with `hf auth login` or set HF_TOKEN",
        "revision": "revision 'v9' does not exist in iMVR-PL/Scale-VQA: pass --revision with a branch, tag or commit",
        "network": "cannot reach the Hugging Face Hub at",
    }[case]
    assert expected in err, err
    assert not (tmp_path / "raw" / "fetch.json").exists()
    if case in ("401", "gated"):  # the same fetch with the token in HF_TOKEN works
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        with serve(repo) as hub:
            assert fetch(hub, monkeypatch, *args) == 0


def test_images_the_repository_lacks_are_listed(hf_env, tmp_path, monkeypatch, capsys) -> None:
    lost = triplet_paths(5)["high_mag"]
    repo = Repo(OFFICIAL, release_files(drop=(lost,)))
    raw, built = tmp_path / "raw", tmp_path / "built"
    with serve(repo) as hub:
        assert fetch(hub, monkeypatch, "--splits", "test", "--out", str(raw)) == 1
        err = capsys.readouterr().err
        assert ("1 image(s) referenced by data/test.json are not in iMVR-PL/Scale-VQA@0123456789ab (pass "
                "--allow-missing-images to fetch and build without them):") in err and lost in err
        assert not [p for p in hub.paths("GET") if p.endswith(".jpg")]  # refused before any image download
        assert fetch(hub, monkeypatch, "--splits", "test", "--out", str(raw), "--allow-missing-images",
                     "--build", str(built)) == 0
    assert json.loads((raw / "fetch.json").read_text())["missing_images"] == [lost]
    from datasets import load_dataset

    test = load_dataset(str(built), split="test", cache_dir=str(tmp_path / "cache"))
    assert [r["high_mag"] is None for r in test] == [False] * 5 + [True] * 5


def test_checksum_mismatch_is_caught_and_healed_by_a_rerun(hf_env, tmp_path, monkeypatch, capsys) -> None:
    bad = triplet_paths(3)["mid_mag"]
    repo = Repo(OFFICIAL, release_files(), corrupt={bad, "data/val.json"})
    raw = tmp_path / "raw"
    with serve(repo) as hub:
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 1
        err = capsys.readouterr().err
        assert "checksum mismatch: 1 downloaded file(s) differ from iMVR-PL/Scale-VQA@0123456789ab" in err
        assert "data/val.json: git-sha1" in err  # checked before it is read: no image was downloaded
        assert not (raw / "data/val.json").exists() and not [p for p in hub.paths("GET") if p.endswith(".jpg")]
        repo.corrupt.discard("data/val.json")
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 1
        err = capsys.readouterr().err
        assert "checksum mismatch: 1 downloaded file(s) differ" in err and f"{bad}: sha256" in err
        assert not (raw / bad).exists() and not (raw / "fetch.json").exists()
        repo.corrupt.clear()
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 0
    assert (raw / bad).read_bytes() == repo.files[bad]


def test_offline_uses_an_earlier_fetch_and_fails_clearly_without_one(hf_env, tmp_path, monkeypatch,
                                                                      capsys) -> None:
    repo = Repo(OFFICIAL, release_files())
    raw = tmp_path / "raw"
    with serve(repo) as hub:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 1
        assert ("HF_HUB_OFFLINE is set and " + str(raw) + " holds no earlier fetch of iMVR-PL/Scale-VQA@main: "
                "unset HF_HUB_OFFLINE to download it") in capsys.readouterr().err
        monkeypatch.delenv("HF_HUB_OFFLINE")
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw)) == 0
        n = len(hub.requests)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(raw), "--build", str(tmp_path / "b")) == 0
        assert len(hub.requests) == n  # offline: not one request


def test_load_without_a_source_fetches_the_official_release_once(hf_env, tmp_path, monkeypatch) -> None:
    repo = Repo(OFFICIAL, release_files())
    with serve(repo) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        test = scale_vqa.load("test", cache_dir=str(tmp_path / "cache"))
        assert test.num_rows == 10 and isinstance(test[0]["high_mag"], Image.Image)
        first = len(hub.requests)
        assert first > 0
        again = scale_vqa.load("test", cache_dir=str(tmp_path / "cache"))
        assert len(hub.requests) == first  # the second call makes no request
    assert again[0]["id"] == test[0]["id"]
    assert (hf_env / "scale-vqa" / "datasets--iMVR-PL--Scale-VQA" / repo.commit / "dataset" / "README.md").is_file()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(scale_vqa.errors.BadInputError, match=r"no dataset source given .*official release could not "
                       r"be fetched: HF_HUB_OFFLINE is set and the official release .* unset HF_HUB_OFFLINE once"):
        scale_vqa.load("test")


def test_load_without_a_source_or_fetcher_names_the_extra(monkeypatch) -> None:
    import scale_vqa.loading as loading

    monkeypatch.delenv("SCALE_VQA_DATASET", raising=False)
    monkeypatch.setattr(loading, "entry_points", lambda group: [])
    with pytest.raises(scale_vqa.errors.MissingExtraError, match=r'needs the data extra .*pip install "\.\[data\]"'):
        scale_vqa.load("test")


def test_split_files_are_validated_with_the_core(hf_env, tmp_path, monkeypatch, capsys) -> None:
    files = release_files()
    records = json.loads(files["data/val.json"])
    del records[2]["answer"]
    files["data/val.json"] = json.dumps(records, indent=1).encode()
    with serve(Repo(OFFICIAL, files)) as hub:
        assert fetch(hub, monkeypatch, "--splits", "val", "--out", str(tmp_path / "raw")) == 1
        assert not [p for p in hub.paths("GET") if p.endswith(".jpg")]
    err = capsys.readouterr().err
    assert "split files of iMVR-PL/Scale-VQA@0123456789ab" in err
    assert f"{tmp_path / 'raw' / 'data' / 'val.json'}:" in err and "answer: missing" in err
