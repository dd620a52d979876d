"""Session-wide tiny model, release and server (built once, shared with the other spoke's tests)."""

from tests.helpers.fixtures import release, served_vlm, tiny_vlm

__all__ = ["release", "served_vlm", "tiny_vlm"]
