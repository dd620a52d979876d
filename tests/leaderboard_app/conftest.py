"""Gradio keeps uploads in one shared folder (``/tmp/gradio`` by default), named by content, and the app deletes
what it has scored: give this test session its own folder so concurrent runs cannot remove each other's files."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="scale-vqa-test-gradio-"))
