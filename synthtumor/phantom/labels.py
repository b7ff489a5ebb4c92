"""Label values of the phantom's multi-label anatomy map.

Every structure has its own value; structures are painted in the order of :data:`PAINT_ORDER`
(a later one overwrites an earlier one where they meet). ``kidney_right`` and ``kidney_left``
hold the renal cortex; the medulla of both kidneys is ``renal_medulla``.
"""

from __future__ import annotations

__all__ = ["LABELS", "LEGEND", "PAINT_ORDER", "SOFT_TISSUE", "label_of"]

LABELS: dict[str, int] = {
    "background": 0,
    "liver": 1,
    "tumour": 2,
    "portal_vein": 3,
    "hepatic_veins": 4,
    "ivc": 5,
    "aorta": 6,
    "spleen": 7,
    "kidney_right": 8,
    "kidney_left": 9,
    "stomach": 10,
    "stomach_air": 11,
    "vertebra": 12,
    "ribs": 13,
    "muscle": 14,
    "subcutaneous_fat": 15,
    "skin": 16,
    "body_fat": 17,
    "vertebra_cortex": 18,
    "spinal_canal": 19,
    "intervertebral_disc": 20,
    "lung": 21,
    "heart": 22,
    "renal_medulla": 23,
    "stomach_wall": 24,
    "bowel": 25,
    "bowel_wall": 26,
    "colon": 27,
    "colon_gas": 28,
}
"""Structure name -> label value."""

LEGEND: dict[int, str] = {value: name for name, value in LABELS.items()}
"""Label value -> structure name (0 is background, the air around the patient)."""

PAINT_ORDER: tuple[str, ...] = (
    "skin", "subcutaneous_fat", "muscle", "body_fat",  # body wall, cavity filler
    "lung", "heart",                                     # above the diaphragm
    "spinal_canal", "vertebra", "vertebra_cortex", "intervertebral_disc", "ribs",
    "aorta", "ivc",
    "kidney_right", "kidney_left", "renal_medulla", "spleen",
    "stomach_wall", "stomach", "stomach_air",
    "bowel_wall", "bowel", "colon", "colon_gas",
    "liver", "portal_vein", "hepatic_veins", "tumour",
)
"""The order structures are painted in (documentation of what build.py does)."""

SOFT_TISSUE: tuple[str, ...] = ("liver", "spleen", "kidney_right", "kidney_left",
                                "renal_medulla", "muscle", "heart", "stomach_wall", "bowel_wall")
"""Structures that get the smooth parenchymal texture."""


def label_of(name: str) -> int:
    """Label value of structure ``name`` (KeyError for an unknown name)."""
    return LABELS[name]
