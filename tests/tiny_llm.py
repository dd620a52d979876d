"""A tiny random chat LLM built offline (Qwen2 architecture, byte-level BPE trained on a few sentences) and a real
``transformers serve`` OpenAI-compatible server on loopback serving it. Nothing is downloaded."""

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

from scale_vqa.prompt import SEED_SYSTEM_PROMPT

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "<think>The stroma shows dense fibrosis and atypical glands.</think> <answer>A</answer>",
    "<think>Nuclear pleomorphism with mitoses suggests carcinoma.</think> <answer>B</answer>",
    "Question: Which feature is seen at high magnification? Options: (A) necrosis (B) mucin (C) C (D) D",
    "You are a pathology expert. Read the question and options about the image carefully.",
    "Think step by step inside <think> </think>. Then output ONLY the SINGLE best option letter.",
]


def build_tiny_chat_model(out: Path) -> Path:
    """Save a randomly initialised ~0.1 M-parameter Qwen2 chat model with its tokenizer into `out`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  padding_side="left")
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config)
    _teach_answer_format(model, tok)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               do_sample=False)
    model.save_pretrained(out)
    return out


REPLY = "<think>Dense fibrosis.</think> <answer>B</answer>"
"""What the tiny model learns to reply to any question, so the server's text exercises the core parser."""


def _teach_answer_format(model: object, tok: object, steps: int = 240) -> None:
    """A few seconds of training so greedy decoding replies :data:`REPLY` to any prompt."""
    import torch

    prompts = ["Question: Which feature? Options: (A) x (B) y", "What does region 3 show?", CORPUS[3], CORPUS[2]]
    batch = []
    for p, system in [(p, s) for p in prompts for s in (None, SEED_SYSTEM_PROMPT, "You are a pathology expert.")]:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prefix = tok(text, add_special_tokens=False)["input_ids"]
        reply = tok(REPLY + "<|im_end|>", add_special_tokens=False)["input_ids"]
        batch.append((list(prefix), list(reply)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        prefix, reply = batch[step % len(batch)]
        ids = torch.tensor([prefix + reply])
        labels = torch.tensor([[-100] * len(prefix) + reply])
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(model_dir: Path, timeout: float = 120.0) -> Iterator[str]:
    """Run ``transformers serve MODEL_DIR`` on a free loopback port; yields the ``…/v1`` base URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cli = Path(sys.executable).with_name("transformers")
    cmd = [str(cli), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    log = model_dir.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
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
                raise RuntimeError(f"transformers serve not healthy after {timeout}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
