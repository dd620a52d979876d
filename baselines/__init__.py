"""Everything that answers an MCQ, behind one interface (:mod:`baselines.answerer`), and the baseline table.

* ``text_only/`` — adversaries that never see an image: heuristics, learned scorers, embedding rules, their registry
  (``--adversaries`` names) and the panel that runs them with grouped cross-fitting (the audit and ``measure`` use it);
* ``api/`` — Gemini and DashScope chat backends and the LLM answerer (the OpenAI-compatible backend, the reply cache
  and the lm-eval chat models live in :mod:`evaluator.chat`);
* ``models/`` — the model registry: one TOML config per model and the evaluator run that reproduces its row;
* ``tables/`` — published rows from papers (``published/*.toml``) and the published-vs-measured table;
* ``cli`` — ``scale-vqa baselines list|show|run|measure|table``.
"""
