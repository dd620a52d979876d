"""Whole-slide images → ROI triplets: open a slide and read views at a magnification from the best pyramid level
(``slide``), find tissue and choose non-overlapping regions (``tissue``), and write each region at 1×, 4× and 20×
with a pre-MCQ manifest (``extract``). Command: ``scale-vqa extract`` (the ``wsi`` extra)."""
