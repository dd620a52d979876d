"""The served app's settings: no exception text to the client, no Gradio telemetry, uploads deleted once scored,
and a model name with ``$`` signs (mathtext) does not break the page."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file

from leaderboard_app.app import Uploads, serve
from scale_vqa.release import write_release
from tests.helpers.items import make_key
from tests.helpers.tiny_llm import free_port

pytestmark = pytest.mark.slow
KEY = make_key(4)
LINK = "https://huggingface.co/org/model"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb-settings")
    key = root / "key.json"
    write_release(KEY, key)
    demo = serve(key, root / "lb.sqlite", port=free_port(), block=False, upload_grace=0,
                 auth_dependency=lambda r: r.headers.get("x-test-user"))
    yield demo
    demo.close()


def test_no_error_text_and_no_analytics(app):
    assert app.show_error is False
    assert app.analytics_enabled is False and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_uploads_are_deleted_after_scoring_and_dollar_names_render(app, tmp_path):
    import gradio

    name = f"upload-{uuid.uuid4().hex}.jsonl"
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": it.id, "prediction": it.answer}) + "\n" for it in KEY))
    c = Client(app.local_url, headers={"x-test-user": "mallory"}, verbose=False)
    message = c.predict("Top$^$Model", LINK, "", "standard", "", handle_file(str(path)), api_name="/submit")
    assert message.startswith("**Published**"), message
    uploads = Path(gradio.utils.get_upload_folder())
    assert not list(uploads.rglob(name))  # the server's copy is gone
    table, plot, *_ = c.predict("", api_name="/current")  # old code: mathtext raised on every page load
    assert any(r[1] == "Top$^$Model" for r in table["data"]) and plot is not None


def test_uploads_grace_keeps_a_shared_copy_until_it_expires(tmp_path):
    root = tmp_path / "uploads"
    (root / "h").mkdir(parents=True)
    shared = root / "h" / "f.jsonl"
    shared.write_bytes(b"data")
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"keep")
    keep = Uploads(root, grace=3600)
    assert keep.read(shared) == b"data" and shared.exists()  # an identical upload may still be queued
    now = Uploads(root, grace=0)
    assert now.read(shared) == b"data" and not shared.exists() and not (root / "h").exists()
    assert now.read(outside) == b"keep" and outside.exists()  # never outside Gradio's upload folder
    for timer in keep._timers.values():
        timer.cancel()


def test_space_sets_the_public_key_mode_from_its_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    from leaderboard_app.space import app as space

    write_release(make_key(2), tmp_path / "key.json")
    env = {"SCALE_VQA_KEY": str(tmp_path / "key.json"), "SCALE_VQA_DB": str(tmp_path / "lb.sqlite")}
    assert space.settings(env)["public_key"] is False  # private unless the Space says otherwise
    assert space.settings({**env, "SCALE_VQA_PUBLIC_KEY": "1"})["public_key"] is True
    assert space.settings({**env, "SCALE_VQA_PUBLIC_KEY": "no"})["public_key"] is False
    with pytest.raises(ValueError, match="SCALE_VQA_PUBLIC_KEY='ture'"):
        space.settings({**env, "SCALE_VQA_PUBLIC_KEY": "ture"})
    import leaderboard_app.app

    seen = {}
    monkeypatch.setattr(leaderboard_app.app, "make_app", lambda key_path, store, **kw: seen.update(kw, key=key_path))
    space.build({**env, "SCALE_VQA_PUBLIC_KEY": "1"})  # the app itself needs gradio[oauth] on a Space
    assert seen["public_key"] is True and seen["on_space"] is True and seen["key"] == env["SCALE_VQA_KEY"]
