"""Text-only answerers, which see the question and the options but never an image: text measures (``text``),
heuristics (``heuristics``), learned scorers on option features (``features``, ``learned``), sentence-embedding
answerers (``embedding``, encoded once per run; ``embed_worker``), adversaries that read the whole file —
option-text frequency, shared option sets solved jointly, question–option match (``matching``, ``filecontext``,
``structure``) —, their names and groups (``registry``) and the panel that runs them without leakage (``panel``,
``panel_args``), used by ``scale-vqa baselines measure`` and the leak audit."""
