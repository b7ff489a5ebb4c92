"""MONAI dictionary transforms: lesion synthesis on the fly, inside a training pipeline.

Put them after orientation and resampling and before intensity scaling (they work in HU). The
fast order, for training on patches (``benchmarks/bench_onthefly.py`` measures it)::

    LoadImaged -> EnsureChannelFirstd -> Orientationd("RAS") -> Spacingd
      -> PrepareLesionSynthesisd          # deterministic: CacheDataset caches it
      -> RandLesionCropd                  # random: lesions drawn on the volume, one patch rendered
      -> ScaleIntensityRanged ...

The whole-volume order, when every lesion of the scan must be in the sample::

    ... -> PrepareLesionSynthesisd -> RandLesionSynthesisd -> ScaleIntensityRanged
      -> RandCropByPosNegLabeld ...

``PrepareLesionSynthesisd`` maps the label through a label map, rewrites it as 0 background,
1 organ, 2 tumour, and stores the generator's preparation under ``"lesion_synthesis"``.
``RandLesionSynthesisd`` draws lesions with any generator that follows the
``prepare / sample / render`` protocol and draws them into the image and label. Applied to a
crop of the prepared volume (after ``RandCropByPosNegLabeld``), it places lesions only where the
crop holds organ and passes a crop without organ through. ``RandLesionCropd`` takes the
cheaper order for users who oversample tumour patches: it draws lesions on the whole prepared
volume, crops a patch around one of them, and renders only that patch.

Randomness follows MONAI: each call draws once from ``self.R`` (seeded by ``set_random_state``,
``set_determinism`` or MONAI's ``DataLoader`` worker seeding) and derives a
``numpy.random.Generator`` from it; all keys share that one draw. Drawing happens in place, in
the arrays of the data dictionary the transform receives (CacheDataset hands random
transforms a copy of its cache).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, SpatialCropd, SpatialPadd

from synthtumor.anatomy import Prepared, prepare_case
from synthtumor.case import Case, Phase
from synthtumor.errors import ConfigError, InvalidCaseError
from synthtumor.generators.base import LesionGenerator, NoRoomError
from synthtumor.io.case_io import check_not_normalised
from synthtumor.io.labelmap import DEFAULT_LABEL_MAP, LabelMap, LabelMasks, resolve_label_map

__all__ = ["ApplyLabelMapd", "PrepareLesionSynthesisd", "RandLesionSynthesisd", "RandLesionCropd", "PREPARED_KEY"]

PREPARED_KEY = "lesion_synthesis"
_MAX_SEED = 2**31 - 1


def _affine_of(data: Mapping[Hashable, Any], key: Hashable) -> np.ndarray:
    value = data[key]
    affine = getattr(value, "affine", None)
    if affine is None:
        meta = data.get(f"{key}_meta_dict") or {}
        affine = meta.get("affine")
    if affine is None:
        raise ConfigError(
            f"no affine for {key!r}: lesion sizes are in mm, so the transform needs the voxel size.",
            fix="load with LoadImaged (MetaTensor), or give a '<key>_meta_dict' with an 'affine'.",
        )
    return np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)


def _volume(value: Any, key: Hashable) -> np.ndarray:
    """The (X, Y, Z) array of a channel-first tensor or array (a view where possible)."""
    array = value.detach().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if array.ndim != 4 or array.shape[0] != 1:
        raise ConfigError(
            f"{key!r} has shape {tuple(array.shape)}; expected one channel first, (1, X, Y, Z).",
            fix="add EnsureChannelFirstd before the lesion transforms.",
        )
    return array[0]


def _label_masks(value: Any, key: Hashable, label_map: LabelMap, case: str | None = None) -> LabelMasks:
    """Role masks of a label: one channel of label values, or one binary channel per structure
    (``synthtumor.io.monai_items`` for per-structure masks: channel ``c`` is value ``c + 1``)."""
    array = value.detach().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if array.ndim == 4 and array.shape[0] > 1:
        return label_map.channel_masks(array)
    return label_map.masks(np.rint(_volume(value, key)).astype(np.int32), case=case)


def _one_channel(value: Any) -> Any:
    """``value`` itself when it has one channel, else a copy of its first channel (metadata kept)."""
    if value.shape[0] == 1:
        return value
    return value[:1].clone() if isinstance(value, torch.Tensor) else np.array(value[:1], copy=True)


def _check_hu(image: np.ndarray, where: str) -> None:
    check_not_normalised(image, where,
                         fix="put the lesion transforms before ScaleIntensityRanged / NormalizeIntensityd.")


def _write_back(target: Any, values: np.ndarray, box: tuple[slice, ...] | None = None) -> None:
    """Copy ``values`` into channel 0 of ``target``, or into its ``box`` region."""
    region = target[0] if box is None else target[0][box]
    if isinstance(target, torch.Tensor):
        region.copy_(torch.from_numpy(np.ascontiguousarray(values)).to(target.dtype))
    else:
        region[...] = values


class ApplyLabelMapd(MapTransform):
    """Rewrite multi-label maps (or stacks of per-structure masks) as 0 background, 1 organ,
    2 tumour through a label map.

    Args:
        keys: label keys.
        label_map: LabelMap, preset name, YAML path or dict (default 1 organ, 2 tumour).
        allow_missing_keys: as in MONAI.
    """

    def __init__(self, keys: KeysCollection = "label", label_map: LabelMap | str | None = None,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_map = resolve_label_map(label_map) or DEFAULT_LABEL_MAP

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            masks = _label_masks(d[key], key, self.label_map, str(d.get("case_id", "sample")))
            d[key] = _one_channel(d[key])
            out = np.zeros(d[key].shape[1:], dtype=np.uint8)
            if masks.organ is not None:
                out[masks.organ] = 1
            if masks.tumor is not None:
                out[masks.tumor] = 2
            _write_back(d[key], out)
        return d


class PrepareLesionSynthesisd(MapTransform):
    """Deterministic preparation: label roles, 0/1/2 label, placement maps (cacheable).

    Args:
        keys: the image key and the label key, in that order.
        label_map: which label values are organ / vessels / tumour / avoid (LabelMap, preset
            name or YAML path; default 1 organ, 2 tumour).
        generator: its ``prepare`` is used (default: :func:`synthtumor.anatomy.prepare_case`).
        phase: contrast phase of the scans (HU vessels are found on contrast scans).
        vessels_key: optional key of a separate binary vessel mask.
        prepared_key: where the preparation goes in the dictionary.
        relabel: rewrite the label as 0 background, 1 organ, 2 tumour.
        allow_missing_keys: as in MONAI.
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        label_map: LabelMap | str | None = None,
        generator: LesionGenerator | None = None,
        phase: Phase | str = Phase.UNKNOWN,
        vessels_key: str | None = None,
        prepared_key: str = PREPARED_KEY,
        relabel: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 2:
            raise ConfigError(f"keys must be (image key, label key), got {self.keys}.")
        self.label_map = resolve_label_map(label_map) or DEFAULT_LABEL_MAP
        if not relabel and (self.label_map.organ, self.label_map.tumor) != ((1,), (2,)):
            raise ConfigError(
                "relabel=False needs labels already 0 background, 1 organ, 2 tumour.",
                fix="keep relabel=True with this label map; the random transforms read 1 as organ, 2 as tumour.",
            )
        self.generator = generator
        self.phase = Phase.parse(phase)
        self.vessels_key = vessels_key
        self.prepared_key = prepared_key
        self.relabel = relabel

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image_key, label_key = self.keys
        image = _volume(d[image_key], image_key).astype(np.float32, copy=False)
        _check_hu(image, "PrepareLesionSynthesisd")
        case_id = str(d.get("case_id", "sample"))
        masks = _label_masks(d[label_key], label_key, self.label_map, case_id)
        vessels = masks.vessels
        if self.vessels_key is not None:
            extra = _volume(d[self.vessels_key], self.vessels_key) > 0
            vessels = extra if vessels is None else vessels | extra
        case = Case.trusted(image=image, affine=_affine_of(d, image_key), case_id=case_id, organ=masks.organ,
                            vessels=vessels, tumor=masks.tumor, avoid=masks.avoid, phase=self.phase)
        if case.organ is None or not case.organ.any():
            raise InvalidCaseError("no organ voxels after the label map.", case=case_id,
                                   fix=f"check the label map ({self.label_map.name}) against the label values.")
        prepared = self.generator.prepare(case) if self.generator is not None else prepare_case(case)
        if self.relabel:
            d[label_key] = _one_channel(d[label_key])
            _write_back(d[label_key], case.label)
        d[self.prepared_key] = prepared.detached()
        return d


class _LesionDrawing(RandomizableTransform, MapTransform):
    """Shared machinery: seeding and drawing into a dictionary's image and label."""

    def __init__(self, keys: KeysCollection, generator: LesionGenerator, prob: float,
                 prepared_key: str, allow_missing_keys: bool, keep_prepared: bool = False) -> None:
        RandomizableTransform.__init__(self, prob)
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 2:
            raise ConfigError(f"keys must be (image key, label key), got {self.keys}.")
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"prob must be in [0, 1], got {prob}.")
        self.generator = generator
        self.prepared_key = prepared_key
        self.keep_prepared = keep_prepared
        self._seed = 0

    def _done(self, d: dict[Hashable, Any]) -> dict[Hashable, Any]:
        """Drop the preparation (it would not collate into a batch) unless asked to keep it."""
        if not self.keep_prepared:
            d.pop(self.prepared_key, None)
        return d

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> _LesionDrawing:
        """As MONAI's, and reaching the generator; returns self."""
        super().set_random_state(seed, state)
        self.generator.set_random_state(seed)
        return self

    def randomize(self, data: Any = None) -> None:
        """One draw for all keys: whether to act, and the seed of this call's generator."""
        super().randomize(None)
        self._seed = int(self.R.randint(_MAX_SEED))

    def _context(self, d: Mapping[Hashable, Any]) -> Prepared:
        prepared = d.get(self.prepared_key)
        if not isinstance(prepared, Prepared):
            raise ConfigError(f"no {self.prepared_key!r} entry in the data.",
                              fix="put PrepareLesionSynthesisd before this transform.")
        return prepared

    def _case(self, d: Mapping[Hashable, Any], prepared: Prepared) -> Case | None:
        image_key, label_key = self.keys
        image = _volume(d[image_key], image_key)
        if image.dtype != np.float32:
            raise ConfigError(f"{image_key!r} must be float32 HU, got {image.dtype}.",
                              fix="load with LoadImaged(dtype=np.float32) (its default).")
        _check_hu(image, type(self).__name__)
        label = _volume(d[label_key], label_key)
        organ = label >= 0.5
        if not organ.any():
            return None
        return Case.trusted(image=image, affine=_affine_of(d, image_key), case_id=str(d.get("case_id", "sample")),
                            organ=organ, tumor=label >= 1.5, phase=prepared.phase)

    def _draw(self, d: dict[Hashable, Any], case: Case, prepared: Prepared, specs: list) -> None:
        moves = any(spec.mass_effect > 0 for spec in specs)  # only a mass effect changes the vessel mask
        result = self.generator.render_result(prepared.attach(case, copy_masks=moves), specs, inplace=True)
        # the image was drawn in place; the label changes only inside the lesions' zones
        out = result.case
        target = d[self.keys[1]]
        for box in result.zones:
            label = out.organ[box].astype(np.uint8)
            label[out.tumor[box]] = 2
            _write_back(target, label, box)


class RandLesionSynthesisd(_LesionDrawing):
    """Draw fresh lesions into the image and label (whole volume or a crop of it).

    Args:
        keys: the image key and the label key (label 0/1/2, as the preparation leaves it).
        generator: any generator following the prepare / sample / render protocol.
        prob: probability of drawing lesions in a call.
        prepared_key: where PrepareLesionSynthesisd left its preparation.
        allow_missing_keys: as in MONAI.
        keep_prepared: keep the preparation in the output (it is dropped by default, since a
            DataLoader cannot collate it; keep it for a second lesion transform downstream).
    """

    def __init__(self, keys: KeysCollection = ("image", "label"), generator: LesionGenerator | None = None,
                 prob: float = 1.0, prepared_key: str = PREPARED_KEY, allow_missing_keys: bool = False,
                 keep_prepared: bool = False) -> None:
        if generator is None:
            raise ConfigError("RandLesionSynthesisd needs a generator, e.g. HeuristicGenerator.from_preset(...).")
        super().__init__(keys, generator, prob, prepared_key, allow_missing_keys, keep_prepared)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        prepared = self._context(d)
        if not self._do_transform:
            return self._done(d)
        case = self._case(d, prepared)
        if case is None:
            return self._done(d)  # a crop without organ passes through
        local = prepared.attach(case, copy_masks=False)
        if local.block_centres_mm.size == 0:
            return self._done(d)
        try:
            specs = self.generator.sample(local, np.random.default_rng(self._seed))
        except NoRoomError:
            return self._done(d)  # too little organ in this crop for the preset's lesions
        self._draw(d, case, prepared, specs)
        return self._done(d)


class RandLesionCropd(_LesionDrawing):
    """Draw lesions on the whole prepared volume, crop a patch around one, render only the patch.

    The patch centre is a random lesion's centre plus a uniform offset of up to a quarter of
    the patch size per axis; every lesion reaching into the patch is drawn in it. Lesions are
    drawn into a copy of the patch, never into the input's arrays, so the transform is safe
    after a ``CacheDataset(..., copy_cache=False)``, which then skips copying whole volumes.

    Args:
        keys: the image key and the label key.
        generator: any generator following the protocol.
        roi_size: patch size in voxels.
        prob: probability of drawing lesions; otherwise the patch is centred on a random
            organ voxel.
        prepared_key: where PrepareLesionSynthesisd left its preparation.
        allow_missing_keys: as in MONAI.
        keep_prepared: keep the preparation in the output (dropped by default).
    """

    def __init__(self, keys: KeysCollection = ("image", "label"), generator: LesionGenerator | None = None,
                 roi_size: Sequence[int] = (96, 96, 96), prob: float = 1.0, prepared_key: str = PREPARED_KEY,
                 allow_missing_keys: bool = False, keep_prepared: bool = False) -> None:
        if generator is None:
            raise ConfigError("RandLesionCropd needs a generator.")
        super().__init__(keys, generator, prob, prepared_key, allow_missing_keys, keep_prepared)
        self.roi_size = tuple(int(n) for n in roi_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        rng = np.random.default_rng(self._seed)
        prepared = self._context(d)
        full = self._case(d, prepared)
        if full is None:
            raise InvalidCaseError("no organ in the volume to crop around.", case=str(d.get("case_id", "sample")))
        local = prepared.attach(full, copy_masks=False)
        specs = []
        if self._do_transform:
            try:
                specs = self.generator.sample(local, rng)
            except NoRoomError:
                specs = []
        inv = np.linalg.inv(full.affine)
        if specs:
            target = np.asarray(specs[int(rng.integers(len(specs)))].centre_mm)
            centre = inv[:3, :3] @ target + inv[:3, 3]
        else:
            organ_voxels = np.argwhere(full.organ)
            centre = organ_voxels[int(rng.integers(len(organ_voxels)))].astype(float)
        roi = np.array(self.roi_size)
        centre = centre + (rng.random(3) - 0.5) * roi / 2
        # keep the patch inside the volume where it fits; pad where the volume is smaller
        half = roi // 2
        centre = np.clip(np.rint(centre), half, np.maximum(np.array(full.shape) - (roi - half), half))
        cropper = SpatialCropd(keys=self.keys, roi_center=[int(c) for c in centre], roi_size=self.roi_size)
        d = dict(SpatialPadd(keys=self.keys, spatial_size=self.roi_size)(cropper(d)))
        if specs:  # draw into a copy of the patch: the input's arrays (a cache's) are never written
            for key in self.keys:
                d[key] = d[key].clone() if isinstance(d[key], torch.Tensor) else np.array(d[key], copy=True)
            crop = self._case(d, prepared)
            if crop is not None:
                self._draw(d, crop, prepared, specs)
        return self._done(d)
