"""``POST /api/submissions`` beside the page, and :mod:`leaderboard_app.client` on it: accepted uploads and their
rows, refusals as 4xx JSON and as :class:`SubmissionRefused`, the size limit enforced while reading, no stack
traces, and 50 concurrent submitters plus a burst of identical retries with nothing lost."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from pathlib import Path

import pytest

from leaderboard_app.app import serve
from leaderboard_app.client import SubmissionRefused, Submitted, post_submission
from leaderboard_app.rules import Policy
from leaderboard_app.store import SQLiteStore
from scale_vqa.release import write_release
from tests.helpers.items import make_key
from tests.helpers.tiny_llm import free_port

pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.slow
KEY = make_key(40)  # 200 items: random answer sets then differ on ~150 (near-copies are refused)
LINK = "https://huggingface.co/org/model"
LIMIT = 2**16


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    write_release(KEY, root / "key.json")
    demo = serve(root / "key.json", root / "lb.sqlite", port=free_port(), block=False, max_bytes=LIMIT,
                 auth_dependency=lambda r: r.headers.get("x-test-user"), policy=Policy(quota=1000))
    yield demo, root
    demo.close()


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row_of(root: Path, row_id: int):
    return next(r for r in SQLiteStore(root / "lb.sqlite").rows(statuses=("published", "held")) if r.id == row_id)


def good(path: Path) -> Path:
    return write(path, [{"id": it.id, "prediction": it.answer} for it in KEY])


def test_valid_upload_is_stored_and_its_row_returned(app, tmp_path):
    demo, root = app
    out = post_submission(demo.local_url, good(tmp_path / "g.jsonl"), model="Api-Model", link=LINK,
                          headers={"x-test-user": "alice"})
    assert isinstance(out, Submitted) and out.decision == "publish" and out.model == "Api-Model"
    assert out.scores["shown"] is True and out.scores["macro"] == 1.0  # the Ladder's disclosure (private key)
    row = row_of(root, out.row)
    assert (row.submitter, row.model, row.variant) == ("alice", "Api-Model", "standard")
    again = post_submission(demo.local_url, tmp_path / "g.jsonl", model="Api-Model", link=LINK,
                            headers={"x-test-user": "alice"})
    assert (again.decision, again.row) == ("duplicate", out.row)


def test_typed_name_is_the_submitter_without_an_auth_user(app, tmp_path):
    demo, root = app
    out = post_submission(demo.local_url, good(tmp_path / "g.jsonl"), model="Typed-Model", link=LINK, name="erin")
    row = row_of(root, out.row)
    assert row.submitter == "erin"


def test_refusals_are_4xx_json_with_the_reason(app, tmp_path):
    demo, _ = app
    bad = write(tmp_path / "bad.jsonl", [{"id": KEY[0].id, "prediction": "A"}])
    with bad.open("rb") as fh:
        reply = httpx.post(demo.local_url + "api/submissions", headers={"x-test-user": "bob"},
                           data={"model": "Bad-Model", "link": LINK}, files={"file": ("bad.jsonl", fh)})
    assert reply.status_code == 422
    body = reply.json()
    assert "items have no prediction" in body["refused"] and body["problems"]
    with pytest.raises(SubmissionRefused) as caught:
        post_submission(demo.local_url, bad, model="Bad-Model", link=LINK, headers={"x-test-user": "bob"})
    assert caught.value.reason == body["refused"] and caught.value.status == 422
    with pytest.raises(SubmissionRefused, match="give your name"):
        post_submission(demo.local_url, good(tmp_path / "g.jsonl"), model="Nameless", link=LINK)
    with pytest.raises(SubmissionRefused, match="model details"):
        post_submission(demo.local_url, tmp_path / "g.jsonl", model="x", link="not a url", name="bob")


def test_malformed_requests_get_json_not_a_traceback(app):
    demo, _ = app
    url = demo.local_url + "api/submissions"
    multipart = {"content-type": "multipart/form-data; boundary=x"}
    for reply in (httpx.post(url, data={"model": "m"}),
                  httpx.post(url, content=b"{}", headers={"content-type": "application/json"}),
                  httpx.post(url, content=b"--x\r\nbroken", headers=multipart)):
        assert reply.status_code == 400, reply.text
        assert set(reply.json()) == {"refused", "problems", "more"} and "Traceback" not in reply.text
    assert httpx.get(url).status_code == 405


def test_cross_site_browser_post_is_refused(app, tmp_path):
    demo, _ = app
    with good(tmp_path / "g.jsonl").open("rb") as fh:
        reply = httpx.post(demo.local_url + "api/submissions", headers={"origin": "https://evil.example"},
                           data={"model": "Csrf-Model", "link": LINK, "name": "mallory"},
                           files={"file": ("g.jsonl", fh)})
    assert reply.status_code == 403 and "cross-site" in reply.json()["refused"]


def test_over_limit_declared_length_is_refused_before_reading(app, tmp_path, caplog):
    demo, _ = app
    caplog.set_level("INFO", logger="leaderboard_app")
    big = write(tmp_path / "big.jsonl", [{"id": it.id, "prediction": "A", "pad": "x" * 8000} for it in KEY])
    assert big.stat().st_size > LIMIT
    with pytest.raises(SubmissionRefused, match=r"larger than the 0\.1 MB limit") as caught:
        post_submission(demo.local_url, big, model="Big-Model", link=LINK, headers={"x-test-user": "carol"})
    assert caught.value.status == 413
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("submission:")]
    assert len(lines) == 1 and "decision=rejected" in lines[0] and "limit" in lines[0]


def test_one_log_line_per_submission(app, tmp_path, caplog):
    demo, _ = app
    caplog.set_level("INFO", logger="leaderboard_app")
    post_submission(demo.local_url, good(tmp_path / "g.jsonl"), model="Logged-Model", link=LINK, name="fay")
    with pytest.raises(SubmissionRefused):
        post_submission(demo.local_url, tmp_path / "g.jsonl", model="Logged-Model", link="nope", name="fay")
    httpx.post(demo.local_url + "api/submissions", data={"model": "m"})  # no file
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("submission:")]
    decisions = [line.split("decision=")[1].split()[0] for line in lines]
    assert decisions[0] in ("publish", "hold") and decisions[1:] == ["rejected", "rejected"]


def route_call(route, chunks: int, chunk: bytes) -> tuple[int, dict, int]:
    """Call the ASGI route with a streamed body (no Content-Length): status, JSON body, chunks it pulled."""
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                                                    b"filename=\"f.jsonl\"\r\n\r\n", "more_body": True}
        return {"type": "http.request", "body": chunk, "more_body": pulled <= chunks}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/submissions", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b"), (b"x-test-user", b"dave")],
             "app": type("NoAuth", (), {"auth_dependency": None})()}
    asyncio.run(route.handle(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return status, body, pulled


def test_streamed_over_limit_upload_is_refused_without_reading_it_all():
    from leaderboard_app.api import FORM_SLACK, submissions_route

    route = submissions_route(SQLiteStore(":memory:"), KEY, policy=Policy(), max_bytes=LIMIT)
    chunk = b'{"id": "x", "prediction": "A"}\n' * 1024  # 31 KB
    total = 1000  # 31 MB offered
    status, body, pulled = route_call(route, total, chunk)
    assert status == 413 and "limit" in body["refused"]
    assert pulled * len(chunk) <= LIMIT + FORM_SLACK + 2 * len(chunk) and pulled < total // 10


def test_fifty_concurrent_posts_and_identical_retries_lose_nothing(app, tmp_path):
    demo, root = app
    # 50 different models: seeded answer sets far apart (the private key refuses near-copies and padding)
    def answers(seed: int) -> list[dict]:
        rng = random.Random(seed)
        return [{"id": it.id, "prediction": rng.choice("ABCD")} for it in KEY]

    files = [write(tmp_path / f"s{n}.jsonl", answers(n)) for n in range(50)]
    retry = write(tmp_path / "retry.jsonl", answers(999))
    results: list[Submitted] = []
    errors: list[BaseException] = []

    def one(user: str, path: Path, model: str) -> None:
        try:
            results.append(post_submission(demo.local_url, path, model=model, link=LINK,
                                           headers={"x-test-user": user}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(f"load{n}", files[n], f"load-model-{n}")) for n in range(50)]
    threads += [threading.Thread(target=one, args=("retrier", retry, "retry-model")) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 70
    store = SQLiteStore(root / "lb.sqlite")
    rows = store.rows(statuses=("published", "held"))
    assert sorted(r.submitter for r in rows if r.submitter.startswith("load")) == sorted(f"load{n}" for n in range(50))
    retried = [r for r in rows if r.submitter == "retrier"]
    assert len(retried) == 1
    assert sorted(r.decision for r in results if r.model == "retry-model") == ["duplicate"] * 19 + ["publish"]
    assert {r.row for r in results if r.model == "retry-model"} == {retried[0].id}
    assert store.integrity_ok()


def test_run_json_and_model_details_travel_with_the_upload(app, tmp_path):
    demo, root = app
    run = {"model_id": "org/Prov-VL", "model_revision": "abc123", "scale_vqa_version": "0.1.0",
           "task_hash": "b" * 64, "command": "scale-vqa eval --model hf", "date": "2026-12-03T00:00:00Z",
           "prompt_format": "seed", "timings": {}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    out = post_submission(demo.local_url, write(tmp_path / "p.jsonl", [
        {"id": it.id, "prediction": it.answer if i % 3 else "A"} for i, it in enumerate(KEY)]),
        model="Prov-VL", link=LINK, headers={"x-test-user": "prov"}, run_json=tmp_path / "run.json",
        params_b=7.5, weights="open", licence="apache-2.0", released="2026-11")
    row = row_of(root, out.row)
    assert row.run["model_revision"] == "abc123" and row.prompt_format == "seed"
    assert row.info == {"params_b": 7.5, "weights": "open", "licence": "apache-2.0", "released": "2026-11"}
    (tmp_path / "bad.json").write_text(json.dumps({**run, "task_hash": "short"}))
    with pytest.raises(SubmissionRefused) as err:
        post_submission(demo.local_url, good(tmp_path / "g2.jsonl"), model="Prov-VL2", link=LINK,
                        headers={"x-test-user": "prov2"}, run_json=tmp_path / "bad.json")
    assert err.value.status == 422 and any("task_hash" in p for p in err.value.problems)
