"""The five reasoning dimensions and the three magnification scales."""

from __future__ import annotations

from enum import StrEnum


class Dimension(StrEnum):
    """A reasoning dimension. The value is the stable name; `code` is the release's `question_type`."""

    CORRESPONDENCE = "correspondence"
    CONFIRMATION = "confirmation"
    LOCALIZATION = "localization"
    EXPLANATION = "explanation"
    DIAGNOSIS = "diagnosis"

    @property
    def code(self) -> str:
        """Release code, `type_A` … `type_E`."""
        return _CODES[self]

    @property
    def title(self) -> str:
        """Human name, e.g. ``Correspondence``."""
        return self.value.capitalize()

    @property
    def short(self) -> str:
        """Column header used by the seed paper's results table, e.g. ``Corresp.``."""
        return _SHORT[self]

    @classmethod
    def parse(cls, value: str) -> Dimension:
        """Accept a release code (`type_A`), a stable name (`correspondence`) or a bare letter (`A`).

        Raises ValueError naming the accepted forms.
        """
        key = value.strip()
        for dim in cls:
            if key == dim.code or key.lower() == dim.value or key.upper() == dim.code[-1]:
                return dim
        accepted = ", ".join(f"{d.code}/{d.value}" for d in cls)
        raise ValueError(f"unknown dimension {value!r} (expected one of {accepted})")


_CODES = {
    Dimension.CORRESPONDENCE: "type_A",
    Dimension.CONFIRMATION: "type_B",
    Dimension.LOCALIZATION: "type_C",
    Dimension.EXPLANATION: "type_D",
    Dimension.DIAGNOSIS: "type_E",
}
_SHORT = {
    Dimension.CORRESPONDENCE: "Corresp.",
    Dimension.CONFIRMATION: "Confirm.",
    Dimension.LOCALIZATION: "Localiz.",
    Dimension.EXPLANATION: "Explan.",
    Dimension.DIAGNOSIS: "Diagno.",
}

DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)


class Scale(StrEnum):
    """A magnification scale of the image triplet. The value is the release's `image_path` key."""

    LOW = "low_mag"
    MID = "mid_mag"
    HIGH = "high_mag"

    @property
    def name_short(self) -> str:
        """``low``, ``mid`` or ``high``."""
        return self.value.split("_")[0]

    @property
    def magnification(self) -> str:
        """Equivalent magnification of the view relative to the lowest one: ``1×``, ``4×``, ``20×``."""
        return _MAGNIFICATION[self]

    @property
    def label(self) -> str:
        """Label written before the image placeholder in prompts."""
        return f"{self.name_short.capitalize()} magnification ({self.magnification})"

    @classmethod
    def parse(cls, value: str) -> Scale:
        """Accept ``low``/``mid``/``high`` or the release keys ``low_mag``/``mid_mag``/``high_mag``."""
        key = value.strip().lower()
        for scale in cls:
            if key in (scale.value, scale.name_short):
                return scale
        raise ValueError(f"unknown scale {value!r} (expected low, mid or high)")


_MAGNIFICATION = {Scale.LOW: "1×", Scale.MID: "4×", Scale.HIGH: "20×"}

SCALES: tuple[Scale, ...] = tuple(Scale)
