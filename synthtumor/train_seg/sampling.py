"""Training samples by class: a block around a background, organ or tumour voxel, synthesis inside it.

:class:`RandClassBlockd` cuts one block (``TrainConfig.slab_size`` voxels: the 3-D patch, or
the in-plane patch by ``2k + 1`` slices for the slice modes) from a prepared volume in HU with
a 0/1/2 label. Its centre class is drawn from ``ratios`` (background / organ / tumour); a voxel
of that class is drawn uniformly from the indices MONAI's ``ClassesToIndicesd`` cached. When
the class is tumour and a generator is given, with probability ``synthesis_prob`` (always, in a
scan without tumour) the block is instead cut around a freshly sampled synthetic lesion by
:class:`synthtumor.transforms.RandLesionCropd`, which samples the lesions on the whole prepared
volume (3-D objects in their anatomy) and renders only the block: the fast path, whose
rendering cost does not grow with the scan's size.

Blocks are copies: the input's arrays are never written, so the trainer's ``CacheDataset``
hands its cache over without copying whole volumes (``copy_cache=False``).

Blocks near the scan's edge: in-plane the block is shifted inside the scan (padded where the
scan is smaller); along Z a slice-mode block keeps its centre slice and repeats the first or
last slice for neighbours beyond the scan (edge padding), as prediction does. A block cut
around a synthetic lesion is shifted inside the scan along Z as well (``RandLesionCropd``'s
rule), so its centre slice is never one of the scan's first or last ``k`` slices.

:class:`SlabToSliced` turns a slice-mode block into a 2-D sample: the ``2k + 1`` slices become
input channels and the label keeps only the centre slice.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from synthtumor.errors import ConfigError
from synthtumor.generators.base import LesionGenerator
from synthtumor.transforms import PREPARED_KEY, RandLesionCropd

__all__ = ["RandClassBlockd", "SlabToSliced", "INDICES_KEY", "block_bounds", "slab_indices"]

#: Where ``ClassesToIndicesd`` leaves the flat voxel indices of classes 0, 1, 2.
INDICES_KEY = "label_cls_indices"

_MAX_SEED = 2**31 - 1


def block_bounds(centre: int, size: int, extent: int) -> tuple[int, int]:
    """Start and stop of a ``size``-voxel window around ``centre``, shifted inside ``[0, extent)``.

    Where the scan is smaller than the window, the window starts at 0 and the caller pads.
    """
    start = int(centre) - size // 2
    start = max(0, min(start, extent - size))
    return start, min(start + size, extent)


def slab_indices(centre: int, context: int, extent: int) -> np.ndarray:
    """Slice indices ``centre - context .. centre + context``, clamped to ``[0, extent)``: the
    scan's first and last slices stand in for neighbours beyond its ends (edge padding)."""
    return np.clip(np.arange(int(centre) - context, int(centre) + context + 1), 0, extent - 1)


def _pad_to(block: Any, size: Sequence[int]) -> Any:
    """Pad a (C, X, Y[, Z]) block at its far ends with its edge values up to ``size``."""
    missing = [max(0, int(s) - int(n)) for s, n in zip(size, block.shape[1:])]
    if not any(missing):
        return block
    widths = [(0, 0)] + [(0, m) for m in missing]
    if isinstance(block, torch.Tensor):
        return torch.as_tensor(np.pad(block.numpy(), widths, mode="edge"))
    return np.pad(block, widths, mode="edge")


class RandClassBlockd(Randomizable, MapTransform):
    """One block per call, centred on a voxel of a class drawn from ``ratios`` (see module doc).

    Args:
        keys: the image key and the label key (label 0 background, 1 organ, 2 tumour).
        block_size: block size in voxels (X, Y, Z).
        ratios: probabilities of centring on background, organ, tumour; a class absent from the
            scan gives its share to the others in proportion.
        slab_context: for slice modes, neighbours on each side of the centre slice (the block's
            Z size must be ``2 * slab_context + 1``); None for 3-D blocks.
        generator: draw synthetic lesions for tumour-centred blocks (None: real tumours only).
        synthesis_prob: probability that a tumour-centred block gets synthetic lesions.
        indices_key: where ``ClassesToIndicesd`` left the class indices.
        prepared_key: where ``PrepareLesionSynthesisd`` left its preparation.
    """

    def __init__(self, keys: KeysCollection, block_size: Sequence[int], ratios: Sequence[float], *,
                 slab_context: int | None = None, generator: LesionGenerator | None = None,
                 synthesis_prob: float = 0.0, indices_key: str = INDICES_KEY,
                 prepared_key: str = PREPARED_KEY) -> None:
        MapTransform.__init__(self, keys)
        if len(self.keys) != 2:
            raise ConfigError(f"keys must be (image key, label key), got {self.keys}.")
        self.block_size = tuple(int(n) for n in block_size)
        if len(self.block_size) != 3:
            raise ConfigError(f"block_size needs 3 sizes, got {self.block_size}.")
        self.ratios = np.asarray(ratios, dtype=float)
        if self.ratios.shape != (3,) or (self.ratios < 0).any() or self.ratios.sum() <= 0:
            raise ConfigError(f"ratios need 3 non-negative values with a positive sum, got {list(ratios)}.")
        if slab_context is not None and self.block_size[2] != 2 * slab_context + 1:
            raise ConfigError(f"a slab of {slab_context} neighbours per side is {2 * slab_context + 1} slices, "
                              f"not {self.block_size[2]}.")
        if not 0.0 <= synthesis_prob <= 1.0:
            raise ConfigError(f"synthesis_prob must be in [0, 1], got {synthesis_prob}.")
        self.slab_context = slab_context
        self.synthesis_prob = float(synthesis_prob) if generator is not None else 0.0
        self.indices_key = indices_key
        self.prepared_key = prepared_key
        self.lesion_crop = (RandLesionCropd(self.keys, generator=generator, roi_size=self.block_size, prob=1.0,
                                            prepared_key=prepared_key) if generator is not None else None)
        self._u = (0.0, 0.0, 0.0)
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        """Three uniforms (class, synthesis, voxel) and a seed for the lesion crop, all from ``self.R``."""
        self._u = tuple(float(v) for v in self.R.random_sample(3))
        self._seed = int(self.R.randint(_MAX_SEED))

    def _class(self, counts: Sequence[int]) -> int:
        weights = np.where(np.asarray(counts) > 0, self.ratios, 0.0)
        if weights.sum() <= 0:
            weights = (np.asarray(counts) > 0).astype(float)
        cumulative = np.cumsum(weights / weights.sum())
        return int(min(np.searchsorted(cumulative, self._u[0], side="right"), 2))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        indices = d.pop(self.indices_key, None)
        if indices is None:
            raise ConfigError(f"no {self.indices_key!r} entry in the data.", fix="put ClassesToIndicesd before this.")
        counts = [len(i) for i in indices]
        synthesis = self.synthesis_prob > 0
        # with synthesis on, a scan without tumour can still give tumour-centred blocks
        wanted = self._class([counts[0], counts[1], max(counts[2], int(synthesis))])
        if wanted == 2 and synthesis and (self._u[1] < self.synthesis_prob or counts[2] == 0):
            self.lesion_crop.set_random_state(self._seed)
            return self._without_internal_keys(self.lesion_crop(d))
        chosen = np.asarray(indices[wanted])
        flat = int(chosen[min(int(self._u[2] * len(chosen)), len(chosen) - 1)])
        image_key, label_key = self.keys
        shape = tuple(int(n) for n in d[image_key].shape[1:])
        centre = np.unravel_index(flat, shape)
        box = [slice(*block_bounds(c, s, e)) for c, s, e in zip(centre[:2], self.block_size[:2], shape[:2])]
        if self.slab_context is None:
            box.append(slice(*block_bounds(centre[2], self.block_size[2], shape[2])))
            z = box[2]
        else:
            z = torch.as_tensor(slab_indices(centre[2], self.slab_context, shape[2]))
        for key in self.keys:
            value = d[key]
            block = value[:, box[0], box[1]]
            block = block[..., z] if isinstance(z, slice) else torch.index_select(torch.as_tensor(block), -1, z)
            block = _pad_to(block, self.block_size)
            d[key] = block.clone() if isinstance(block, torch.Tensor) else np.array(block, copy=True)
        d.pop(self.prepared_key, None)
        return d

    def _without_internal_keys(self, d: dict[Hashable, Any]) -> dict[Hashable, Any]:
        d.pop(self.prepared_key, None)
        d.pop(self.indices_key, None)
        return d


class SlabToSliced(MapTransform):
    """A (1, X, Y, 2k + 1) slab to a 2-D sample: image (2k + 1, X, Y), label (1, X, Y) centre slice."""

    def __init__(self, keys: KeysCollection = ("image", "label")) -> None:
        super().__init__(keys)
        if len(self.keys) != 2:
            raise ConfigError(f"keys must be (image key, label key), got {self.keys}.")

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image_key, label_key = self.keys
        image = torch.as_tensor(d[image_key])
        label = torch.as_tensor(d[label_key])
        d[image_key] = image[0].permute(2, 0, 1).contiguous()
        d[label_key] = label[..., label.shape[-1] // 2].contiguous()
        return d
