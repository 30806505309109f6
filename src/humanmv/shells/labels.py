"""Label classes of the rendered `labels` layer: Anny's body parts, then hair and garments.

Ids 0..15 are `body.anny_model.PART_NAMES` (head ... eyes); the surface classes follow, one per
kind of shell, so a pixel's label says what covers it there (the GAN discriminator's part
classes and the head presets use the same table). The renderer writes -1 on the background.
"""

from __future__ import annotations

from humanmv.body.anny_model import PART_NAMES

SHELL_CLASSES = ("hair", "upper_garment", "lower_garment", "dress", "shoes", "headwear")
LABEL_NAMES = PART_NAMES + SHELL_CLASSES
BACKGROUND = -1


def label_of(name: str) -> int:
    """The label id of a body part or a surface class (ValueError for an unknown name)."""
    if name not in LABEL_NAMES:
        raise ValueError(f"unknown label {name!r}; one of {', '.join(LABEL_NAMES)}")
    return LABEL_NAMES.index(name)
