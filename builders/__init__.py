"""Builders: everything that makes or checks the Scale-VQA data, one subpackage per job.

- :mod:`builders.dataset`: a release folder → a Hub-ready dataset folder (parquet shards, card, checksums), the
  ``datasets`` builder class and the Hub upload (``scale-vqa build``, ``scale-vqa push``);
- :mod:`builders.wsi`: whole-slide images → nested 1×/4×/20× ROI triplets and a pre-MCQ manifest
  (``scale-vqa extract``);
- :mod:`builders.audit`: the text-only leak audit of an MCQ file — per-item flags, generator-artifact checks,
  reports and the hard subset (``scale-vqa audit``), on top of the adversary panel in :mod:`baselines.text_only`.

Curating new MCQs (``curate``) is to come.
"""
