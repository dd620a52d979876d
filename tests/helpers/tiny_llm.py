"""A tiny chat LLM built offline and a real ``transformers serve`` OpenAI-compatible server on loopback serving it.

The model is a Qwen2 causal LM (2 layers, hidden size 64) with random weights, a byte-level BPE tokenizer trained
on a few sentences, Qwen's special tokens and a ChatML chat template. A bigram path planted in its embeddings
makes greedy decoding reply :data:`REPLY` to any prompt, so the server's replies carry a letter for the core
parser and a ``<think>`` block for the server's reasoning parser. Nothing is downloaded.

``transformers serve MODEL_DIR`` pins the server to that model: a request must name it with exactly the string
given on the command line (:func:`served_model`); any other name is answered 400.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from evaluator.tiny_model import plant_reply, qwen_bpe
from scale_vqa.prompt import ANSWER_INSTRUCTION, SEED_SYSTEM_PROMPT

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
"""Qwen's special tokens: pad, turn start, turn end (the eos of a chat model)."""
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
"""Added (non-special) tokens, as in Qwen3's tokenizer: they survive ``skip_special_tokens`` decoding."""
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The stroma shows dense fibrosis and atypical glands.",
    "Nuclear pleomorphism with mitoses suggests carcinoma.",
    "Question: Which feature is seen at high magnification?\nOptions:\n(A) necrosis\n(B) mucin\n(C) fat",
    SEED_SYSTEM_PROMPT,
    ANSWER_INSTRUCTION,
]
REPLY = "<think>Dense fibrosis.</think> <answer>B</answer>"
"""What the tiny model replies to any prompt (greedy decoding, enough tokens)."""


def build_tiny_chat_model(out: Path) -> Path:
    """Save a tiny Qwen2 chat model (≈0.1 M parameters), its tokenizer and generation config into `out`."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    bpe = qwen_bpe(CORPUS, SPECIAL, TAGS, vocab_size=450)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=False)
    tok.save_pretrained(out)
    config.save_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)  # exactly the tokenization the server will use
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    plant_reply(model, tok, REPLY)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.save_pretrained(out)
    return out


SERVE_PRELUDE = ("from evaluator.vlm_compat import ensure_qwen_processor, fix_stop_strings_with_processor; "
                 "ensure_qwen_processor(); fix_stop_strings_with_processor()")
"""Python to run in a ``transformers serve`` process for Qwen-VL models (``python -c PRELUDE; main()``)."""


def served_model(model_dir: Path) -> str:
    """The ``model`` a request to :func:`serve` must name: the path exactly as given to ``transformers serve``."""
    return str(model_dir)


def free_port() -> int:
    """A loopback TCP port that nothing listens on (at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(model_dir: Path, port: int, prelude: str | None = None) -> list[str]:
    """``transformers serve MODEL_DIR --host 127.0.0.1 --port PORT --device cpu`` with this interpreter's CLI;
    `prelude` is Python run in the server process first (e.g. registering image-only Qwen-VL processors)."""
    cli = Path(sys.executable).with_name("transformers")
    if prelude:
        head = [sys.executable, "-c", f"{prelude}; import sys; sys.argv[0] = 'transformers'; "
                                      "from transformers.cli.transformers import main; main()"]
    else:
        head = [str(cli)] if cli.is_file() else [sys.executable, "-c",
                                                   "from transformers.cli.transformers import main; main()"]
    return [*head, "serve", served_model(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]


@contextlib.contextmanager
def serve(model_dir: Path, timeout: float = 120.0, threads: int = 1,
          prelude: str | None = None) -> Iterator[str]:
    """Run ``transformers serve`` for `model_dir` on a free loopback port until the block ends; yields the
    ``http://127.0.0.1:PORT/v1`` base URL once ``/health`` answers (the model is loaded before the server
    listens). Raises RuntimeError with the server's log when it exits or is not healthy within `timeout`.

    One CPU thread by default: for a model this small, thread synchronisation costs more than it saves (a
    reply takes about 0.07 s on one thread, 0.4 s on two busy cores)."""
    port = free_port()
    hub_cache = model_dir.parent / "hub-cache"  # /v1/models lists this (empty) cache instead of the user's
    hub_cache.mkdir(exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache),
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = model_dir.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(serve_command(model_dir, port, prelude), stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve not healthy after {timeout:.0f}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
