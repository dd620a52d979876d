"""The evaluator spoke: Scale-VQA on lm-evaluation-harness (``scale-vqa eval``, ``scale-vqa report``).

* :mod:`.taskgen` writes the task folder (``evaluator/tasks``: one group per variant, five dimension tasks each);
  :mod:`.docs` turns a source's items into lm-eval docs and reads their images lazily; :mod:`.metrics` scores
  them with the core parser;
* :mod:`.runner` runs lm-eval in one process with the right backend arguments and writes a run folder;
  :mod:`.preflight` checks data, split, tasks and generation budget before a model loads; :mod:`.report`
  compares runs (image, cross-scale and shuffle gains with paired-bootstrap CIs);
* :mod:`.chat` serves chat APIs to lm-eval (``--model openai`` and the baselines' API rows);
* :mod:`.vlm_compat` patches transformers for Qwen-VL without torchvision; :mod:`.tiny_model` builds the tiny
  random VLM of the demo and the tests;
* :mod:`.cli` holds the commands and the demo's eval step.
"""
