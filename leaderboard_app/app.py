"""The Gradio 6 leaderboard page: the ranked table (search, sort, filter, CSV/JSON export, per-dimension plot of
the top models) and the submission form. Everything it shows is computed by :mod:`leaderboard_app.service` and
:mod:`leaderboard_app.table`; the answer key is read once at start and never served."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scale_vqa.atomic import atomic_write_text
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.release import SPLITS, load_items

from .ladder import describe
from .rules import Policy
from .seed_rows import SEED_ROWS_FILE, load_seed_rows
from .service import LOG, published_names, submit, submitted_variants, variant_description
from .store import SQLiteStore, Store
from .submission import MAX_BYTES, SubmissionError
from .table import HEADERS, build_table, display_rows, filter_table, headers, to_csv, to_json

INTRO = """# Scale-VQA leaderboard
Cross-scale pathology VQA: multiple-choice questions on one region at 1×, 4× and 20×. Upload your model's
**per-item predictions** (our predictions JSONL or lm-eval's `samples_*.jsonl`); they are scored here against a
hidden answer key with the same parser and scorer as `scale-vqa score`. Submit the **blind** run of the same model
too (no images), so readers can see how much of its score needs the images; a blind run may answer exactly like
the standard one (its image gain is then 0).

{mode}

Rules: every item must be answered; the same file twice is stored once; at most {quota} submissions per day;
near-identical resubmissions (which probe the hidden answers) are refused; answers identical to another account's
are held for review; names with invisible characters, or that look like another model's or submitter's, are refused.
Rows are retracted, never deleted, and each submitter's number of submissions is public.

Provenance: upload the `run.json` that `scale-vqa eval` wrote beside your samples; the row then shows the model
id and revision, the scale-vqa version and the run's date (without it the row says *self-reported*). Runs with
different prompt formats (the run.json's `prompt_format`) are ranked separately, never against each other."""


PRIVATE_INTRO = """**Private key: scored against hidden answers.** The answers of this split were never released,
so a score here cannot be looked up, only earned. To stop the hidden answers being read back from scores, every
item must be answered with one of its letters; answer sets that are mostly one letter, or that differ from any
earlier submission (anyone's) on only a few items, are refused; and a score is disclosed only when it beats your
best and the model's best by more than its standard error (the *Ladder*, Blum & Hardt 2015), rounded to {step:g}
point(s) — otherwise the reply says "no significant improvement". New typed names are limited to
{names} per hour server-wide. Rows submitted under a typed name are marked *unverified*; signed-in accounts are not.
A row marked *verified* was reproduced by a maintainer."""

PUBLIC_INTRO = """**Public key: self-reported.** The answers of this split are public (released with the
dataset), so anyone could reach any score here by copying them: every row is **self-reported**, and exact scores are
shown. A row marked *verified* was reproduced by a maintainer from the model and the command in its run; only a
*private* (never released) split makes a ranking that cannot be looked up."""


def intro(policy: Policy) -> str:
    """The page's introduction for the key's mode (private or public)."""
    mode = (PRIVATE_INTRO.format(step=100 * policy.step, names=policy.new_names_per_hour) if policy.private
            else PUBLIC_INTRO)
    return INTRO.format(quota=policy.quota, mode=mode)


def plot_top(table: list[Any], top: int = 5) -> Any:
    """Grouped bars: accuracy per dimension of the top submitted models and the published rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table if r.source == "measured"][:top] + [r for r in table if r.source == "published"]
    # Names are submitters' text: never mathtext (``Top$^$Model`` would raise on every page load) and never a
    # leading "_" (matplotlib drops such legend labels). Each Text keeps parse_math from its creation.
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig, ax = plt.subplots(figsize=(9, 3.6))
        width = 0.8 / max(1, len(rows))
        for j, r in enumerate(rows):
            xs = [i + (j - (len(rows) - 1) / 2) * width for i in range(len(DIMENSIONS))]
            label = r.model[:60] + (f" ({r.source})" if r.source != "measured" else "")
            ax.bar(xs, [100 * v for v in r.dims], width, label=" " + label if label.startswith("_") else label)
        ax.set_xticks(range(len(DIMENSIONS)), [d.short for d in DIMENSIONS])
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
    return fig


class Uploads:
    """Deletes uploads once scored. Gradio stores an upload once per content (identical files share one path, and
    an identical upload may be waiting in the queue), so a path is deleted `grace` seconds after its last read,
    and only inside Gradio's upload folder `root`."""

    def __init__(self, root: str | Path, grace: float = 60.0) -> None:
        self.root = Path(root).resolve()
        self.grace = grace
        self._lock = threading.Lock()
        self._timers: dict[Path, threading.Timer] = {}

    def read(self, path: str | Path) -> bytes:
        """The upload's bytes; its deletion is (re)scheduled."""
        path = Path(path)
        with self._lock:
            timer = self._timers.pop(path, None)
            if timer is not None:
                timer.cancel()
        try:
            return path.read_bytes()
        finally:
            if path.resolve().is_relative_to(self.root):
                self._schedule(path)

    def _schedule(self, path: Path) -> None:
        if self.grace <= 0:
            self._delete(path)
            return
        timer = threading.Timer(self.grace, self._delete, (path,))
        timer.daemon = True
        with self._lock:
            self._timers[path] = timer
        timer.start()

    def _delete(self, path: Path) -> None:
        with self._lock:
            self._timers.pop(path, None)
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # Gradio's per-upload folder, once empty


def make_app(key_path: str | Path, store: Store, *, policy: Policy | None = None, max_bytes: int = MAX_BYTES,
             on_space: bool | None = None, seed_rows: str | Path | None = SEED_ROWS_FILE,
             split: str | None = None, upload_grace: float = 60.0, public_key: bool = False) -> Any:
    """The Blocks app. `public_key`: the key's answers are public (rows are self-reported, exact scores shown;
    :attr:`Policy.private` is cleared); by default the key is private and the probing defences apply.
    Identity: the HF login on a Space; the authenticated user when the server has an auth dependency (tests send a
    header); otherwise the name typed into the form (local use, marked unverified). `seed_rows`: the reference rows
    file (None: none); those of `split` are shown below the ranking (default: the key's split
    when its file is named for one, else ``test``, the split a leaderboard hides). Uploads are deleted
    `upload_grace` seconds after they were scored (:class:`Uploads`)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, also from Gradio's module-level checks
    import gradio as gr

    key = load_items(key_path)
    seeds = load_seed_rows(seed_rows) if seed_rows else []
    protected = sorted({*published_names(), *(s.name for s in seeds)})
    uploads = Uploads(gr.utils.get_upload_folder(), upload_grace)  # where Gradio writes uploads
    key_split = split or (key[0].split if key and key[0].split in SPLITS else "test")
    policy = policy or Policy()
    if public_key:
        policy = dataclasses.replace(policy, private=False)
    on_space = bool(os.environ.get("SPACE_ID")) if on_space is None else on_space
    # Private on purpose (mkdtemp: 0700): the export files are this server's scratch copies, which Gradio serves
    # to the browser itself; nobody else on the machine needs them. Removed when the process ends.
    exports = Path(tempfile.mkdtemp(prefix="scale-vqa-leaderboard-"))
    atexit.register(shutil.rmtree, exports, ignore_errors=True)

    def rows_now(query: str = "", *view: Any) -> tuple[list[Any], dict[str, Any]]:
        """The table (ranked by `view`'s first value, filtered by the rest: :func:`view_of`) and its cells."""
        rank_by, filters = view_of(*view)
        table = build_table(store.rows(statuses=("published",)), key, split=key_split, seed_rows=seeds,
                            private=policy.private, rank_by=rank_by)
        table = filter_table(table, **filters) if filters else table
        rows = display_rows(table, store.submission_counts())
        if query:
            rows = [r for r in rows if query.lower() in " ".join(r).lower()]
        return table, {"headers": headers(table), "data": rows}

    def current(query: str = "", rank_by: str | None = None, weights: str | None = None,
                min_params: float | None = None, max_params: float | None = None, licence: str | None = None,
                released_from: str | None = None, prompt_format: str | None = None
                ) -> tuple[dict[str, Any], Any, str, str]:
        """Table, plot and export files (page load, search, view, and after a submission in the browser)."""
        table, rows = rows_now(query, rank_by, weights, min_params, max_params, licence, released_from,
                               prompt_format)
        csv_path, json_path = exports / "leaderboard.csv", exports / "leaderboard.json"
        atomic_write_text(csv_path, to_csv(table))
        atomic_write_text(json_path, to_json(table))
        return rows, plot_top(table), str(csv_path), str(json_path)

    def handle(model: str, link: str, paper: str, variant: str, name: str, upload: str | None,
               signed_in: str | None, run_file: str | None = None, params: Any = None, weights: str | None = None,
               licence: str | None = None, released: str | None = None) -> str:
        who = signed_in or (None if on_space else name)
        if upload is None:
            message = "**Not accepted:** choose a file to upload."
        else:
            try:
                data = uploads.read(upload)
                run = uploads.read(run_file) if run_file else None
                # an empty number field arrives as 0 from the browser: 0 parameters means "not given"
                info = {"params_b": params or None, "weights": weights, "licence": licence, "released": released}
                out = submit(store, key, data, submitter=who or "", model=model, link=link, paper=paper,
                             variant=variant, policy=policy, max_bytes=max_bytes, protected=protected,
                             identity="oauth" if signed_in else "typed", run=run, info=info)
                d = out.decision
                status = {"publish": "published", "hold": "held for review", "duplicate": "already stored"}[d.action]
                shown = describe(out.shown, {dim.value: dim.short for dim in DIMENSIONS})
                message = (f"**{status.capitalize()}** (#{out.row.id}): {out.row.model} — {shown}"
                           + (f". {d.reason}" if d.reason else "."))
            except SubmissionError as exc:
                message = "**Not accepted:** " + exc.summary + "".join(f"\n- {p}" for p in exc.problems) + (
                    f"\n- … and {exc.more} more" if exc.more else "")
        return message  # the table, plot and exports refresh in a follow-up step (in the browser)

    # Gradio injects the Hugging Face login (on a Space) or the request (whose user an auth dependency sets) into
    # a parameter annotated with the real class; annotations are set here because this module's are strings.
    if on_space:
        def on_submit(model: str, link: str, paper: str, variant: str, name: str, upload: str | None,
                      run_file: str | None = None, params: Any = None, weights: str | None = None,
                      licence: str | None = None, released: str | None = None, profile: Any = None) -> str:
            return handle(model, link, paper, variant, name, upload, getattr(profile, "username", None), run_file,
                          params, weights, licence, released)

        on_submit.__annotations__["profile"] = gr.OAuthProfile | None
    else:
        def on_submit(model: str, link: str, paper: str, variant: str, name: str, upload: str | None,
                      run_file: str | None = None, params: Any = None, weights: str | None = None,
                      licence: str | None = None, released: str | None = None, request: Any = None) -> str:
            return handle(model, link, paper, variant, name, upload, getattr(request, "username", None), run_file,
                          params, weights, licence, released)

        on_submit.__annotations__["request"] = gr.Request

    # delete_cache: Gradio's copies of uploads that were never submitted (and of old exports) go after an hour
    with gr.Blocks(title="Scale-VQA leaderboard", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(intro(policy))
        with gr.Tab("Leaderboard"):
            search = gr.Textbox(label="Search models or submitters", placeholder="type to filter")
            with gr.Row():
                rank_by = gr.Dropdown(RANK_CHOICES, value=RANK_CHOICES[0][1], label="Rank by",
                                      info="AVG, or one dimension (the per-dimension view)")
                f_weights = gr.Dropdown([("any", ""), ("open", "open"), ("closed", "closed")], value="",
                                        label="Weights")
                f_min = gr.Number(label="Params ≥ (B)", value=None)
                f_max = gr.Number(label="Params ≤ (B)", value=None)
                f_licence = gr.Textbox(label="Licence contains")
                f_released = gr.Textbox(label="Released from", placeholder="YYYY or YYYY-MM")
                f_format = gr.Textbox(label="Prompt format", placeholder="e.g. seed; empty: all")
            table = gr.Dataframe(headers=HEADERS, datatype="str", interactive=False,
                                 wrap=True, show_search="filter", elem_id="leaderboard-table")
            plot = gr.Plot(label="Accuracy per dimension (top models)")
            with gr.Row():
                csv_file = gr.DownloadButton("Download CSV")
                json_file = gr.DownloadButton("Download JSON")
        with gr.Tab("Submit"):
            if on_space:
                gr.LoginButton()
            model = gr.Textbox(label="Model name", elem_id="model-name")
            link = gr.Textbox(label="Link (weights, repository or API page)", elem_id="model-link")
            paper = gr.Textbox(label="Paper (optional: URL or arXiv id)")
            variants = submitted_variants()
            variant = gr.Radio(list(variants), value="standard", label="Run",
                               info="; ".join(f"{v}: {variant_description(v)}" for v in variants))
            name = gr.Textbox(label="Your name", visible=not on_space, elem_id="submitter")
            upload = gr.File(label="Predictions JSONL or lm-eval samples_*.jsonl", type="filepath",
                             file_types=[".jsonl", ".json"], elem_id="upload")
            run_file = gr.File(label="run.json of the scale-vqa eval run (optional: the row shows its provenance)",
                               type="filepath", file_types=[".json"], elem_id="run-json")
            with gr.Row():
                params = gr.Number(label="Parameters (billions, optional)", value=None)
                weights = gr.Dropdown([("not given", ""), ("open", "open"), ("closed", "closed")], value="",
                                      label="Weights")
                licence = gr.Textbox("", label="Licence (optional)", placeholder="apache-2.0")
                released = gr.Textbox("", label="Released (optional)", placeholder="YYYY-MM or YYYY-MM-DD")
            send = gr.Button("Submit", variant="primary", elem_id="submit")
            result = gr.Markdown(elem_id="result")
        outputs = [table, plot, csv_file, json_file]
        view = [search, rank_by, f_weights, f_min, f_max, f_licence, f_released, f_format]
        demo.load(current, inputs=view, outputs=outputs)
        search.change(lambda *v: rows_now(*v)[1], inputs=view, outputs=[table])  # no re-plot per keystroke
        for control in view[1:]:
            control.change(current, inputs=view, outputs=outputs, api_name=False)
        send.click(on_submit, inputs=[model, link, paper, variant, name, upload, run_file, params, weights, licence,
                                      released], outputs=[result],
                   concurrency_limit=2, api_name="submit").then(current, inputs=view, outputs=outputs,
                                                                api_name=False)
    demo.queue(max_size=256, default_concurrency_limit=8)
    # POST /api/submissions for programs (leaderboard_app.api), mounted by launch(app_kwargs={"routes": …})
    from .api import submissions_route

    demo.api_routes = [submissions_route(store, key, policy=policy, max_bytes=max_bytes, protected=protected,
                                         on_space=on_space)]
    return demo


RANK_CHOICES = [("AVG (macro)", "macro"), *((d.value, d.value) for d in DIMENSIONS)]
"""The page's "Rank by" choices: the AVG, or one dimension."""


def view_of(rank_by: str | None = None, weights: str | None = None, min_params: float | None = None,
            max_params: float | None = None, licence: str | None = None, released_from: str | None = None,
            prompt_format: str | None = None) -> tuple[str, dict[str, Any]]:
    """The page's view controls → (rank_by, the filters given for :func:`leaderboard_app.table.filter_table`); an
    empty number field (0 from the browser) filters nothing."""
    filters = {"weights": weights or None, "min_params": min_params or None, "max_params": max_params or None,
               "licence": (licence or "").strip() or None, "released_from": (released_from or "").strip() or None,
               "prompt_format": (prompt_format or "").strip() or None}
    valid = {v for _, v in RANK_CHOICES}
    return (rank_by if rank_by in valid else "macro"), {k: v for k, v in filters.items() if v is not None}


def log_to_stderr() -> None:
    """Show the app's submission lines (INFO, ``leaderboard_app`` logger) on stderr with their time (once)."""
    if not any(getattr(h, "leaderboard_app", False) for h in LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.leaderboard_app = True  # type: ignore[attr-defined]
        LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def serve(key: str | Path, db: str | Path, *, host: str = "127.0.0.1", port: int = 7860,
          auth_dependency: Callable[[Any], str | None] | None = None, max_bytes: int = MAX_BYTES,
          policy: Policy | None = None, block: bool = True, seed_rows: str | Path | None = SEED_ROWS_FILE,
          split: str | None = None, upload_grace: float = 60.0, public_key: bool = False) -> Any:
    """Start the app on `host`:`port` (the answer key stays outside every served path). Gradio's own start-up
    lines (the "set share=True" hint and the like) are left out: one line says where the app is, and each
    submission is logged on stderr."""
    demo = make_app(key, SQLiteStore(db), policy=policy, max_bytes=max_bytes, seed_rows=seed_rows, split=split,
                    upload_grace=upload_grace, public_key=public_key)
    demo.launch(server_name=host, server_port=port, max_file_size=max_bytes, auth_dependency=auth_dependency,
                prevent_thread_lock=True, quiet=True, footer_links=[], show_error=False,
                app_kwargs={"routes": demo.api_routes})
    if block:
        log_to_stderr()
        print(f"leaderboard running on {demo.local_url} (answer key {key}, database {db}); Ctrl-C stops it",
              flush=True)
        try:
            demo.block_thread()
        finally:
            demo.close()
    return demo
