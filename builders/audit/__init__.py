"""The text-only leak audit: run the adversary panel of :mod:`baselines.text_only.panel` over an MCQ file
(``engine``), flag items that too many adversaries answer without the images, with a threshold calibrated to a
false-flag rate (``flags``), check the generator's artifacts (``artifacts``) and write the reports and the hard
subset (``report``). Command: ``scale-vqa audit`` (the ``audit`` extra)."""
