"""Chat models behind lm-eval: one request machinery for every OpenAI-style chat API.

* :mod:`.settings` — :class:`~.settings.Generation`, the one generation-settings type (model configs, answerers,
  lm-eval requests);
* :mod:`.backend` — the :class:`~.backend.ChatBackend` interface, its errors and the backend registry;
* :mod:`.openai_backend` — any OpenAI-compatible ``/v1/chat/completions`` server (OpenAI, vLLM,
  ``transformers serve``) through the openai SDK;
* :mod:`.runner` — many requests to one backend: reply cache (:mod:`.cache`), concurrency, rpm limit, retries;
* :mod:`.lm` — the lm-eval models ``scale-vqa-openai`` (``scale-vqa eval --model openai``) and
  ``scale-vqa-chat`` (any registered backend; ``baselines.api`` adds Gemini and DashScope).
"""
