"""Training samples by class and the slice modes' slabs: edges, classes, shapes, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import ClassesToIndicesd

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator
from synthtumor.train_seg.sampling import RandClassBlockd, SlabToSliced, block_bounds, slab_indices
from synthtumor.transforms import PrepareLesionSynthesisd

from tests.conftest import blob_case, toy_volume


def test_slab_indices_repeat_the_end_slices_beyond_the_scan():
    assert slab_indices(0, 2, 10).tolist() == [0, 0, 0, 1, 2]
    assert slab_indices(9, 2, 10).tolist() == [7, 8, 9, 9, 9]
    assert slab_indices(5, 1, 10).tolist() == [4, 5, 6]
    assert slab_indices(0, 0, 1).tolist() == [0]


def test_block_bounds_stay_inside_the_scan():
    assert block_bounds(0, 8, 20) == (0, 8)
    assert block_bounds(19, 8, 20) == (12, 20)
    assert block_bounds(10, 8, 20) == (6, 14)
    assert block_bounds(3, 8, 5) == (0, 5)  # smaller scan: the caller pads


def _sample(ratios, block=(8, 8, 3), context=1, seed=0):
    image, label = toy_volume()
    data = {"image": torch.as_tensor(image)[None], "label": torch.as_tensor(label.astype(np.float32))[None]}
    data = ClassesToIndicesd("label", num_classes=3, indices_postfix="_cls_indices")(data)
    sampler = RandClassBlockd(("image", "label"), block, ratios, slab_context=context)
    sampler.set_random_state(seed)
    return sampler, data, label


@pytest.mark.parametrize("wanted", [0, 1, 2])
def test_the_block_centre_has_the_drawn_class(wanted):
    ratios = [0.0, 0.0, 0.0]
    ratios[wanted] = 1.0
    sampler, data, _ = _sample(ratios)
    for _ in range(20):
        out = sampler(data)
        assert out["image"].shape == (1, 8, 8, 3) and out["label"].shape == (1, 8, 8, 3)
        centre = out["label"][0, :, :, 1]
        assert (centre == wanted).any()  # the centre slice holds a voxel of the class
        assert "label_cls_indices" not in out


def test_an_absent_class_gives_its_share_to_the_others():
    sampler, data, _ = _sample([0.0, 0.0, 1.0])
    data["label_cls_indices"][2] = np.zeros(0, dtype=np.int64)  # no tumour in this scan
    out = sampler(data)
    assert out["image"].shape == (1, 8, 8, 3)


def test_same_seed_same_blocks():
    a, data, _ = _sample([0.3, 0.3, 0.4], seed=7)
    b, _, _ = _sample([0.3, 0.3, 0.4], seed=7)
    for _ in range(5):
        first, second = a(data), b(data)
        assert torch.equal(torch.as_tensor(first["image"]), torch.as_tensor(second["image"]))


def test_slab_at_the_first_slice_repeats_it():
    image, label = toy_volume()
    image = np.broadcast_to(np.arange(image.shape[2], dtype=np.float32), image.shape).copy()  # value = slice index
    label[:] = 0
    label[10, 10, 0] = 2  # the only tumour voxel is on the first slice
    data = {"image": torch.as_tensor(image)[None], "label": torch.as_tensor(label.astype(np.float32))[None]}
    data = ClassesToIndicesd("label", num_classes=3, indices_postfix="_cls_indices")(data)
    sampler = RandClassBlockd(("image", "label"), (8, 8, 5), [0, 0, 1], slab_context=2).set_random_state(0)
    out = SlabToSliced()(sampler(data))
    assert out["image"].shape == (5, 8, 8) and out["label"].shape == (1, 8, 8)
    assert [float(out["image"][c, 0, 0]) for c in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert float(out["label"].max()) == 2.0  # the centre slice's label


def test_synthetic_lesions_drawn_in_tumour_centred_blocks():
    case = blob_case(spacing=(2.0, 2.0, 2.5), seed=0)
    data = {"image": torch.as_tensor(case.image)[None], "label": torch.as_tensor(case.label.astype(np.float32))[None]}
    from monai.data import MetaTensor

    data = {k: MetaTensor(v, affine=torch.as_tensor(case.affine)) for k, v in data.items()}
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    data = PrepareLesionSynthesisd(("image", "label"), generator=generator, phase="portal")(data)
    data = ClassesToIndicesd("label", num_classes=3, indices_postfix="_cls_indices")(data)
    assert len(data["label_cls_indices"][2]) == 0  # healthy
    sampler = RandClassBlockd(("image", "label"), (32, 32, 3), [0, 0, 1], slab_context=1, generator=generator,
                              synthesis_prob=1.0).set_random_state(0)
    drawn = sum(bool((torch.as_tensor(sampler(dict(data))["label"]) == 2).any()) for _ in range(4))
    assert drawn >= 3
    assert "lesion_synthesis" not in sampler(dict(data))


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="ratios"):
        RandClassBlockd(("image", "label"), (8, 8, 3), [1.0, 0.0])
    with pytest.raises(ConfigError, match="slices"):
        RandClassBlockd(("image", "label"), (8, 8, 4), [1, 1, 1], slab_context=1)
    with pytest.raises(ConfigError, match="keys"):
        RandClassBlockd(("image",), (8, 8, 3), [1, 1, 1])
