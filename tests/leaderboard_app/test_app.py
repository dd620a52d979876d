"""The leaderboard app in-process, driven by gradio_client (and once by a real browser): submissions, errors,
the table, exports, and that the answer key is never served."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file

from leaderboard_app.app import serve
from scale_vqa.release import write_release
from tests.helpers.items import make_key
from tests.helpers.tiny_llm import free_port

pytestmark = pytest.mark.slow
KEY = make_key(4)
LINK = "https://huggingface.co/org/model"
SEARCH = "/current"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    key = root / "secret_key.json"
    write_release(KEY, key)
    # a public key: these tests are about the page (one-letter files, 50 answer sets of 20 items); the private
    # key's page is tested in test_threat_model.py
    demo = serve(key, root / "lb.sqlite", port=free_port(), block=False, max_bytes=2**20,
                 auth_dependency=lambda r: r.headers.get("x-test-user"), public_key=True)
    yield demo, key, root
    demo.close()


def client(demo, user: str) -> Client:
    return Client(demo.local_url, headers={"x-test-user": user}, verbose=False)


def table_of(c: Client) -> dict:
    """The table as the page shows it after loading (the search endpoint with an empty query)."""
    return c.predict("", api_name=SEARCH)[0]


def write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_submit_good_and_bad_files(app, tmp_path):
    demo, _, _ = app
    c = client(demo, "alice")
    good = write(tmp_path / "good.jsonl", [{"id": it.id, "prediction": it.answer} for it in KEY])
    message = c.predict("Model-A", LINK, "", "standard", "", handle_file(good), api_name="/submit")
    assert message.startswith("**Published**") and "AVG 100.00" in message
    table = table_of(c)
    row = next(r for r in table["data"] if r[1] == "Model-A")
    assert row[0] == "1" and row[2] == "measured · self-reported" and row[3].startswith("100.0") and "alice" in row[13]
    bad = write(tmp_path / "bad.jsonl", [{"id": it.id, "prediction": "Z"} for it in KEY])
    message = c.predict("Model-B", LINK, "", "standard", "", handle_file(bad), api_name="/submit")
    assert message.startswith("**Not accepted:**") and "line 1:" in message
    assert not any(r[1] == "Model-B" for r in table_of(c)["data"])
    again = c.predict("Model-A", LINK, "", "standard", "", handle_file(good), api_name="/submit")
    assert again.startswith("**Already stored** (#1)")
    message = c.predict("<b>x</b>", LINK, "", "standard", "", handle_file(good), api_name="/submit")
    assert "no HTML" in message


def test_blind_run_fills_the_blind_column_and_published_rows_are_marked(app, tmp_path):
    demo, _, _ = app
    c = client(demo, "bob")
    std = write(tmp_path / "std.jsonl", [{"id": it.id, "prediction": it.answer if i % 4 else "A"}
                                         for i, it in enumerate(KEY)])
    blind = write(tmp_path / "blind.jsonl", [{"id": it.id, "prediction": "D"} for it in KEY])
    c.predict("Model-C", LINK, "", "standard", "", handle_file(std), api_name="/submit")
    message = c.predict("Model-C", LINK, "", "blind", "", handle_file(blind), api_name="/submit")
    table = table_of(c)
    row = next(r for r in table["data"] if r[1] == "Model-C")
    assert row[11] != "–", message
    published = [r for r in table["data"] if r[2] == "published"]  # the seed paper's rows, unranked, with CIs
    from baselines.tables.reference import published_rows

    assert [r[1] for r in published] == [p.model for p in published_rows()]
    assert all(r[0] == "" and "[" in r[3] for r in published)


def test_answer_key_is_never_served(app):
    demo, key, _ = app
    for path in (str(key), key.name, f"../{key.name}"):
        req = urllib.request.Request(f"{demo.local_url}gradio_api/file={path}", headers={"x-test-user": "alice"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        assert err.value.code in (403, 404)
    page = urllib.request.urlopen(urllib.request.Request(demo.local_url, headers={"x-test-user": "alice"})).read()
    assert KEY[0].rationale.encode() not in page


def test_oversized_upload_is_refused_by_the_server(app, tmp_path):
    demo, _, _ = app
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * (2**20 + 10))
    with pytest.raises(Exception, match=r"(?i)size|large|413"):
        client(demo, "carol").predict("Model-D", LINK, "", "standard", "", handle_file(str(big)), api_name="/submit")


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_browser_upload_bad_then_good(app, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    demo, _, root = app
    bad = write(tmp_path / "bad.jsonl", [{"id": "nope", "prediction": "A"}])
    good = write(tmp_path / "good.jsonl", [{"id": it.id, "prediction": "B"} for it in KEY])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(extra_http_headers={"x-test-user": "dave"}, viewport={"width": 1400, "height": 1000})
        page.goto(demo.local_url)
        page.get_by_role("tab", name="Submit").click()
        page.locator("#model-name textarea, #model-name input").first.fill("Browser-Model")
        page.locator("#model-link textarea, #model-link input").first.fill(LINK)
        page.locator("#upload input[type=file]").set_input_files(bad)
        page.wait_for_timeout(500)
        page.locator("#submit").click()
        page.locator("#result").get_by_text("not in the answer key").wait_for(timeout=30000)
        page.locator("#upload button[aria-label*='Clear'], #upload button[aria-label*='Remove']").first.click()
        page.locator("#upload input[type=file]").set_input_files(good)
        page.wait_for_timeout(500)
        page.locator("#submit").click()
        page.locator("#result").get_by_text("Published").wait_for(timeout=30000)
        page.get_by_role("tab", name="Leaderboard").click()
        page.locator("#leaderboard-table").get_by_text("Browser-Model").first.wait_for(timeout=30000)
        page.screenshot(path=str(root / "leaderboard.png"))
        browser.close()
