"""Core benchmarks, each printed as a ratio against a baseline measured in the same run.

    python benchmarks/bench_core.py [--val PATH]

1. `scale-vqa --help` start-up vs a bare `python -c pass` (target: under 2× — the CLI imports no spoke).
2. Loading + validating an MCQ file vs a plain `json.load` of the same file (the cost of the full report).
3. `parse_answer` throughput vs one `re.search` of the seed's answer pattern per output.
4. Scoring a benchmark-sized key (4,685 items).

Uses the real validation split when found (`../shared/data/scale_vqa/val.json`), replicated to 4,685 items,
else the demo set.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scale_vqa.demo import make_demo_release  # noqa: E402
from scale_vqa.parse import parse_answer  # noqa: E402
from scale_vqa.predictions import Prediction  # noqa: E402
from scale_vqa.release import read_release  # noqa: E402
from scale_vqa.scoring import score  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_help(repeat: int) -> None:
    def run(args: list[str]) -> None:
        subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd=REPO)

    base = best_of(lambda: run(["-c", "pass"]), repeat)
    cli = best_of(lambda: run(["-m", "scale_vqa", "--help"]), repeat)
    print(f"help      python -c pass {base * 1000:7.1f} ms | scale-vqa --help {cli * 1000:7.1f} ms | "
          f"ratio {cli / base:.2f}x")


def make_big_file(src: Path | None, tmp: Path, n_target: int = 4685) -> Path:
    if src is not None and src.is_file():
        records = json.loads(src.read_text())
    else:
        make_demo_release(tmp / "demo")
        records = json.loads((tmp / "demo" / "val.json").read_text())
    out = []
    while len(out) < n_target:
        for r in records:
            r = dict(r)
            r.pop("id", None)
            r["No"] = len(out) + 1
            out.append(r)
    path = tmp / "big.json"
    path.write_text(json.dumps(out[:n_target], indent=2))
    return path


def bench_load(path: Path, repeat: int) -> list:
    base = best_of(lambda: json.loads(path.read_text()), repeat)
    result = read_release(path)
    ours = best_of(lambda: read_release(path), repeat)
    n = len(result.items)
    print(f"load      json.load {base * 1000:7.1f} ms | read_release ({n} items, full report) "
          f"{ours * 1000:7.1f} ms | ratio {ours / base:.2f}x | {n / ours:,.0f} items/s")
    return result.items


def bench_parse(items: list, repeat: int) -> None:
    rng = random.Random(0)
    styles = ["<think>{t}</think> <answer>{l}</answer>", "<think>{t}</think> <answer>{l}", "{t}\nAnswer: {l}",
              "<think>{t}</think> <answer>Benign</answer>"]
    outputs = [rng.choice(styles).format(t="reasoning " * rng.randint(20, 200), l=rng.choice("ABCD"))
               for _ in range(20000)]
    seed_re = re.compile(r"<answer>\s*([A-Za-z])\s*</answer>")
    base = best_of(lambda: [seed_re.search(o) for o in outputs], repeat)
    ours = best_of(lambda: [parse_answer(o, "ABCD") for o in outputs], repeat)
    print(f"parse     seed regex {base * 1e6 / len(outputs):6.2f} us/output | parse_answer "
          f"{ours * 1e6 / len(outputs):6.2f} us/output | ratio {ours / base:.2f}x")


def bench_score(items: list, repeat: int) -> None:
    rng = random.Random(1)
    preds = {i.id: Prediction.of_output(f"<think>x</think> <answer>{rng.choice(i.letters)}</answer>") for i in items}
    letters = {i.id: Prediction.of_letter(rng.choice(i.letters)) for i in items}
    base = best_of(lambda: score(items, letters), repeat)
    ours = best_of(lambda: score(items, preds), repeat)
    print(f"score     {len(items)} letters {base * 1000:7.1f} ms | {len(items)} raw outputs {ours * 1000:7.1f} ms"
          f" | ratio {ours / base:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", type=Path, default=REPO.parent / "shared" / "data" / "scale_vqa" / "val.json")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, best of {args.repeat}")
    bench_help(args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        items = bench_load(make_big_file(args.val, Path(tmp)), args.repeat)
    bench_parse(items, max(1, args.repeat // 2))
    bench_score(items, args.repeat)


if __name__ == "__main__":
    main()
