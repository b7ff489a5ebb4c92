"""TorchIO transforms: lesion synthesis for Subjects with a ScalarImage (CT, HU) and a LabelMap.

Following TorchIO's habit, :class:`RandomLesionSynthesis` samples (it draws the lesion specs
from ``torch``'s random state, so ``torch.manual_seed`` makes it reproducible) and its
deterministic twin :class:`LesionSynthesis` applies them; the specs land in the subject's
history, so a transform can be replayed.

Supports TorchIO 1.x (``pip install 'synthtumor[torchio]'``). TorchIO's 2.0 alphas rename the
transform API (``apply_transform`` and the ``Transform`` keyword arguments); supporting it would
mean a second pair of thin classes over the same generator calls, nothing more.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

try:
    import torchio as tio
    from torchio.transforms.augmentation.random_transform import RandomTransform
except ImportError as exc:  # pragma: no cover - exercised only without torchio
    raise ImportError(
        "synthtumor.transforms_torchio needs TorchIO 1.x: pip install 'synthtumor[torchio]'"
    ) from exc

from synthtumor.anatomy import Prepared
from synthtumor.case import Case, Phase
from synthtumor.errors import ConfigError, InvalidCaseError
from synthtumor.generators.base import LesionGenerator, NoRoomError
from synthtumor.io.case_io import check_not_normalised
from synthtumor.io.labelmap import DEFAULT_LABEL_MAP, LabelMap, resolve_label_map
from synthtumor.lesions.render import render_lesions
from synthtumor.lesions.spec import TumorSpec

__all__ = ["RandomLesionSynthesis", "LesionSynthesis"]



def _pick(subject: tio.Subject, key: str | None, kind: type) -> str:
    if key is not None:
        if key not in subject:
            raise ConfigError(f"the subject has no image {key!r} (it has {list(subject.keys())}).")
        return key
    names = [name for name, image in subject.get_images_dict(intensity_only=False).items() if isinstance(image, kind)]
    if len(names) != 1:
        raise ConfigError(f"the subject needs exactly one {kind.__name__} (found {names}).",
                          fix="pass image_key= and label_key=.")
    return names[0]


class _SubjectCases:
    """Turn a Subject into a Case and back; keep a few preparations (keyed by file path)."""

    def __init__(self, image_key: str | None, label_key: str | None, label_map: LabelMap | str | None,
                 phase: Phase | str, cache_size: int) -> None:
        self.image_key, self.label_key = image_key, label_key
        self.label_map = resolve_label_map(label_map) or DEFAULT_LABEL_MAP
        self.phase = Phase.parse(phase)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, int], Prepared] = OrderedDict()

    def case(self, subject: tio.Subject) -> tuple[Case, str, str]:
        image_key = _pick(subject, self.image_key, tio.ScalarImage)
        label_key = _pick(subject, self.label_key, tio.LabelMap)
        image, label = subject[image_key], subject[label_key]
        data = image.data.numpy()
        if data.shape[0] != 1:
            raise ConfigError(f"{image_key!r} has {data.shape[0]} channels; CT has one.")
        array = np.ascontiguousarray(data[0], dtype=np.float32)
        check_not_normalised(array, f"{image_key!r}",
                             fix="put the lesion transform before RescaleIntensity / ZNormalization.")
        masks = self.label_map.masks(np.rint(label.data.numpy()[0]).astype(np.int32))
        case = Case.trusted(image=array, affine=np.asarray(image.affine, dtype=np.float64),
                            case_id="subject", organ=masks.organ, vessels=masks.vessels, tumor=masks.tumor,
                            avoid=masks.avoid, phase=self.phase)
        if case.organ is None or not case.organ.any():
            raise InvalidCaseError("the subject's label has no organ voxels.",
                                   fix=f"check the label map ({self.label_map.name}).")
        return case, image_key, label_key

    def prepare(self, subject: tio.Subject, generator: LesionGenerator | None, case: Case,
                image_key: str, label_key: str) -> Prepared:
        # file paths plus a fingerprint of the organ mask: a flip or a resampling on the same grid
        # (TorchIO keeps the affine) must not reuse placement maps made for other voxels
        fingerprint = zlib.crc32(np.packbits(case.organ).tobytes())
        paths = (str(subject[image_key].path), str(subject[label_key].path), fingerprint)
        cacheable = self.cache_size > 0 and all(p not in ("None", "") for p in paths[:2])
        if cacheable and paths in self._cache:
            self._cache.move_to_end(paths)
            return self._cache[paths].attach(case)
        from synthtumor.anatomy import prepare_case

        prepared = generator.prepare(case) if generator is not None else prepare_case(case)
        if cacheable:
            self._cache[paths] = prepared.detached()
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return prepared

    @staticmethod
    def write(subject: tio.Subject, image_key: str, label_key: str, out: Case) -> None:
        image, label = subject[image_key], subject[label_key]
        image.set_data(torch.from_numpy(out.image[None].copy()).to(image.data.dtype))
        label.set_data(torch.from_numpy(out.label[None].astype(np.int64)).to(label.data.dtype))


class LesionSynthesis(tio.Transform):
    """Draw given lesion specs into a Subject (deterministic; the twin of the random one).

    Args:
        specs: lesion records (dicts, as :meth:`TumorSpec.to_dict` gives).
        image_key, label_key: the CT ScalarImage and its LabelMap (default: the only ones).
        label_map: roles of the label values (default 1 organ, 2 tumour). The label is
            rewritten as 0 background, 1 organ, 2 tumour.
        phase: contrast phase.
        generator: renders the specs (default: the analytic renderer the heuristic generator uses).
        **kwargs: TorchIO Transform arguments (p, copy, ...).
    """

    def __init__(self, specs: list[dict[str, Any]], image_key: str | None = None, label_key: str | None = None,
                 label_map: LabelMap | str | None = None, phase: Phase | str = Phase.UNKNOWN,
                 generator: LesionGenerator | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.prepared: Prepared | None = None  # set by the random twin to skip a second preparation
        self.specs = [s.to_dict() if isinstance(s, TumorSpec) else dict(s) for s in specs]
        self.image_key, self.label_key = image_key, label_key
        resolved = resolve_label_map(label_map)
        self.label_map = resolved.to_dict() if resolved is not None else None  # JSON-able, for the history
        self.phase = Phase.parse(phase).value
        self._cases = _SubjectCases(image_key, label_key, label_map, phase, cache_size=0)
        self.args_names = ["specs", "image_key", "label_key", "label_map", "phase"]

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        case, image_key, label_key = self._cases.case(subject)
        if self.prepared is not None:
            prepared = self.prepared.attach(case)
        else:
            prepared = self._cases.prepare(subject, self.generator, case, image_key, label_key)
        specs = [TumorSpec.from_dict(s) for s in self.specs]
        if self.generator is not None:
            out = self.generator.render_result(prepared, specs, inplace=True).case
        else:
            out = render_lesions(prepared, specs, inplace=True).case
        _SubjectCases.write(subject, image_key, label_key, out)
        return subject


class RandomLesionSynthesis(RandomTransform):
    """Draw fresh lesions into a Subject with any generator following the protocol.

    Args:
        generator: e.g. ``HeuristicGenerator.from_preset("liver_metastasis")``.
        image_key, label_key: the CT ScalarImage and its LabelMap (default: the only ones).
        label_map: roles of the label values (default 1 organ, 2 tumour).
        phase: contrast phase.
        cache_size: preparations kept per process, keyed by the image and label file paths.
        **kwargs: TorchIO Transform arguments (p, copy, ...).
    """

    def __init__(self, generator: LesionGenerator, image_key: str | None = None, label_key: str | None = None,
                 label_map: LabelMap | str | None = None, phase: Phase | str = Phase.UNKNOWN,
                 cache_size: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.image_key, self.label_key, self.label_map, self.phase = image_key, label_key, label_map, phase
        self._cases = _SubjectCases(image_key, label_key, label_map, phase, cache_size)

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        case, image_key, label_key = self._cases.case(subject)
        prepared = self._cases.prepare(subject, self.generator, case, image_key, label_key)
        seed = int(self._get_random_seed())
        try:
            specs = self.generator.sample(prepared, np.random.default_rng(seed))
        except NoRoomError:
            specs = []
        twin = LesionSynthesis(specs, image_key=image_key, label_key=label_key, label_map=self.label_map,
                               phase=self.phase, generator=self.generator, **self._get_base_args())
        twin.prepared = prepared.detached()
        return twin(subject)
