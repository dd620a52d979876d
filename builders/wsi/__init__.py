"""Whole-slide images → ROI triplets: one slide interface with two reader backends (``slide``: base
magnification, best-level grid-snapped views; ``openslide_backend``, ``tiffslide_backend``), tissue and the choice
of non-overlapping regions (``tissue``), and each region written at 1×, 4× and 20× with a pre-MCQ manifest
(``extract``). Command: ``scale-vqa extract`` (the ``wsi`` extra)."""
