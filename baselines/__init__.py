"""Everything that answers an MCQ, and the baseline table: text-only adversaries (``heuristics``, ``learned``,
``embedding``, ``registry``), LLM/VLM API clients (``llm``) and their lm-eval model (``lm_eval_chat``), the seed
models' configs (``models/*.toml``, ``model_config``) and the runs that reproduce their rows (``run_model``), the
seed paper's published table (``reference/``, ``reference.py``) and the published-vs-measured table (``table``).
"""
