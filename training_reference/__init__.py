"""GRPO / SFT reference trainer on TRL reproducing ScaleReasoner-R1's recipe (``scale-vqa train``).

Modules (each imports torch / trl / transformers only inside its functions):

* :mod:`~training_reference.rewards` — seed-parity accuracy + format rewards on the core parser (pure Python);
* :mod:`~training_reference.config` — the typed YAML config (``configs/*.yaml``);
* :mod:`~training_reference.data` — built dataset → TRL conversational prompts with an ``images`` column;
* :mod:`~training_reference.grpo` / :mod:`~training_reference.sft` — trainer entry points;
* :mod:`~training_reference.common` — processor + left-padding guard, LoRA, resume, logging, merged export.

Launch scripts for accelerate / DeepSpeed ZeRO-3 (1–8 GPUs, multi-node, SLURM) are in ``launch/``.
"""
