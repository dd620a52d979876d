"""``scale-vqa leaderboard`` as the README runs it, in a subprocess, and the README's client call against it:
one start-up line, one log line per submission on stderr, none of Gradio's hints; and the command's errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scale_vqa.cli import main
from scale_vqa.release import write_release
from tests.helpers.items import REPO, make_key
from tests.helpers.tiny_llm import free_port

KEY = make_key(4)
LINK = "https://huggingface.co/org/model"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO submission: submitter='(.*)' model='(.*)' "
                      r"variant='(\w+)' decision=(\w+) row=(#\d+|-)( \(.*\))?$")


@pytest.mark.slow
def test_readme_serve_command_and_client_call(tmp_path: Path) -> None:
    pytest.importorskip("gradio")
    from leaderboard_app.client import SubmissionRefused, post_submission

    key = tmp_path / "test.json"
    write_release(KEY, key)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "scale_vqa.cli", "leaderboard", "--key", str(key), "--db",
                             str(tmp_path / "leaderboard.sqlite"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith(f"leaderboard running on http://127.0.0.1:{port}/"), first + "".join(stderr)
        url = first.split()[3]
        good = tmp_path / "predictions.jsonl"
        good.write_text("".join(json.dumps({"id": it.id, "prediction": it.answer}) + "\n" for it in KEY))
        out = post_submission(url, good, model="Model-CLI", link=LINK, name="erin")  # the README's call
        assert (out.decision, out.row, out.model) == ("publish", 1, "Model-CLI")
        # the default key is private: the reply carries the Ladder's rounded numbers, never the exact scores
        assert out.scores["shown"] is True and out.scores["macro"] == 1.0 and out.scores["step"] == 0.01
        assert "self_reported" not in out.scores
        with pytest.raises(SubmissionRefused, match="give your name"):
            post_submission(url, good, model="Model-CLI", link=LINK)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        reader.join(timeout=10)
    printed = first + out + "".join(stderr)
    assert "share=True" not in printed and "Running on local URL" not in printed
    logged = [LOG_LINE.match(line) for line in "".join(stderr).splitlines() if "submission:" in line]
    assert all(logged) and [m.groups()[:5] for m in logged] == [  # type: ignore[union-attr]
        ("erin", "Model-CLI", "standard", "publish", "#1"), ("", "Model-CLI", "standard", "rejected", "-")]
    assert not any(it.id in "".join(stderr) for it in KEY)  # nothing of the upload or the key


def test_missing_key_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio")
    assert main(["leaderboard", "--key", str(tmp_path / "absent.json")]) == 1
    assert "--key" in capsys.readouterr().err


def test_missing_app_extra_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import scale_vqa.errors

    monkeypatch.setattr(scale_vqa.errors, "missing_modules", lambda *modules: ["gradio"])
    assert main(["leaderboard", "--key", "k.json"]) == 2
    assert 'pip install ".[app]"' in capsys.readouterr().err


def test_demo_step_reads_predictions_with_the_core_reader(tmp_path, capsys):
    """The demo's predictions are read like `scale-vqa score` reads them: a BOM, blank lines and no final newline
    are fine, and a bad line is reported with its line number instead of a traceback."""
    from leaderboard_app.cli import demo_step

    key = make_key(2, split="validation")
    write_release(key, tmp_path / "val.json")
    lines = [json.dumps({"id": it.id, "prediction": it.answer}) for it in key[:-1]]  # the last item skipped
    (tmp_path / "vlm.jsonl").write_bytes(b"\xef\xbb\xbf" + "\n\n".join(lines).encode())
    (tmp_path / "blind.jsonl").write_text(lines[0] + "\n{not json\n", encoding="utf-8")
    paths = {"release": tmp_path / "val.json", "vlm": tmp_path / "vlm.jsonl", "blind": tmp_path / "blind.jsonl"}
    assert demo_step(tmp_path, paths) == 0
    out = capsys.readouterr().out
    assert "simulated VLM (standard): publish as #1" in out
    assert "simulated VLM (blind): not submitted" in out and "blind.jsonl:2" in out
