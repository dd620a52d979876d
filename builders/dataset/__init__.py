"""The dataset: a release folder (split files + images) becomes a Hub-ready folder — parquet shards with the
original image bytes embedded, a dataset card and checksums — that ``datasets.load_dataset`` reads typed
(``features``, ``rows``, ``images``, ``export``, ``card``), the ``datasets`` builder class for a release folder
(``builder``) and the upload to the Hugging Face Hub (``hub``). Commands: ``scale-vqa build`` and ``push``."""
