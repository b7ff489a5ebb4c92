"""MONAI transforms: a MONAI citizen inside Compose, CacheDataset and DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    Orientationd,
    RandSpatialCropd,
    ScaleIntensityRanged,
)
from monai.utils import set_determinism

from synthtumor import ConfigError, LabelMap
from synthtumor.generators import HeuristicGenerator
from synthtumor.transforms import PrepareLesionSynthesisd, RandLesionCropd, RandLesionSynthesisd

from tests.conftest import blob_case, write_nifti_file

LABEL_MAP = LabelMap(organ=(1, 3), vessels=(3,), tumor=(2,))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("onthefly")
    items = []
    for seed in range(2):
        case = blob_case(spacing=(1.5, 1.5, 2.5), seed=seed, tumor=True)
        label = np.where(case.organ, 1, 0)
        label[case.vessels] = 3
        label[case.tumor] = 2
        write_nifti_file(root / f"img{seed}.nii.gz", case.image, case.affine, np.int16)
        write_nifti_file(root / f"lab{seed}.nii.gz", label, case.affine, np.uint8)
        items.append({"image": str(root / f"img{seed}.nii.gz"), "label": str(root / f"lab{seed}.nii.gz"),
                      "case_id": f"blob{seed}"})
    return items


def generator():
    return HeuristicGenerator.from_preset("liver_metastasis", counts={"small": [1, 2], "tiny": [1, 2]})


def pipeline(prob=1.0, crop=None, seed=0):
    keys = ("image", "label")
    pre = [LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
           PrepareLesionSynthesisd(keys, label_map=LABEL_MAP, phase="portal")]
    rand = [RandLesionSynthesisd(keys, generator=generator(), prob=prob)]
    post = [ScaleIntensityRanged("image", a_min=-200, a_max=300, b_min=0, b_max=1, clip=True)]
    if crop:
        post.append(RandSpatialCropd(keys, roi_size=crop, random_size=False))
    transform = Compose(pre + rand + post)
    transform.set_random_state(seed)
    return transform


def batches(files, workers, epochs=1, **kw):
    ds = CacheDataset(files, pipeline(**kw), progress=False, num_workers=0)
    loader = DataLoader(ds, batch_size=1, num_workers=workers)
    return [[(b["image"].clone(), b["label"].clone()) for b in loader] for _ in range(epochs)]


def test_loader_with_workers_fresh_lesions_each_sample_and_epoch(files):
    set_determinism(seed=11)
    try:
        epochs = batches(files, workers=2, epochs=2)
    finally:
        set_determinism(seed=None)
    (a0, l0), (a1, l1) = epochs[0]
    assert (l0 == 2).sum() > 0 and (l1 == 2).sum() > 0
    assert not torch.equal(l0, epochs[1][0][1])  # the same case, another epoch: other lesions
    assert not torch.equal(a1, epochs[1][1][0])


def test_rerun_with_the_same_seed_gives_identical_batches(files):
    runs = []
    for _ in range(2):
        set_determinism(seed=5)
        try:
            runs.append(batches(files, workers=2))
        finally:
            set_determinism(seed=None)
    for (ia, la), (ib, lb) in zip(runs[0][0], runs[1][0]):
        assert torch.equal(ia, ib) and torch.equal(la, lb)


def test_prob_zero_is_the_identity(files):
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP)])
    plain = base(files[0])
    out = RandLesionSynthesisd(keys, generator=generator(), prob=0.0)(base(files[0]))
    assert torch.equal(out["image"], plain["image"]) and torch.equal(out["label"], plain["label"])


def test_existing_tumours_untouched_and_metadata_kept(files):
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP)])
    before = base(files[0])
    old_tumour = (before["label"] == 2).clone()
    image_before = before["image"].clone()
    affine = before["image"].affine.clone()
    out = RandLesionSynthesisd(keys, generator=generator()).set_random_state(3)(before)
    assert isinstance(out["image"], MetaTensor) and isinstance(out["label"], MetaTensor)
    assert torch.equal(out["image"].affine, affine) and torch.equal(out["label"].affine, affine)
    assert (out["label"][old_tumour] == 2).all()
    assert torch.equal(out["image"][old_tumour], image_before[old_tumour])
    assert (out["label"] == 2).sum() > old_tumour.sum()


def test_cache_dataset_prepares_once_and_synthesises_fresh(files, monkeypatch):
    import synthtumor.transforms as tr

    calls = []
    original = tr.prepare_case
    monkeypatch.setattr(tr, "prepare_case", lambda case: calls.append(1) or original(case))
    ds = CacheDataset(files, pipeline(), progress=False, num_workers=0)
    first = [ds[i]["label"].clone() for i in range(2)]
    second = [ds[i]["label"].clone() for i in range(2)]
    assert len(calls) == 2  # once per case, at caching time
    assert not torch.equal(first[0], second[0])


def test_crop_fast_path_places_lesions_only_where_the_crop_has_organ(files):
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP)])
    from monai.transforms import SpatialCropd

    full = base(files[0])
    synth = RandLesionSynthesisd(keys, generator=generator()).set_random_state(0)
    # a corner crop with no organ passes through untouched
    corner = SpatialCropd(keys, roi_start=(0, 0, 0), roi_end=(20, 20, 10))(full)
    image = corner["image"].clone()
    assert torch.equal(synth(corner)["image"], image)
    # a crop in the organ gets lesions, inside its organ
    centre = [s // 2 for s in full["image"].shape[1:]]
    crop = SpatialCropd(keys, roi_center=centre, roi_size=(48, 48, 24))(full)
    old = (crop["label"] == 2).clone()
    out = synth(crop)
    new = (out["label"] == 2) & ~old
    assert new.any() and (out["label"][new] == 2).all()
    assert torch.equal(out["image"].affine, crop["image"].affine)


def test_lesion_crop_draws_on_the_whole_volume_and_renders_the_patch(files):
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP)])
    full = base(files[1])
    old_total = int((full["label"] == 2).sum())
    out = RandLesionCropd(keys, generator=generator(), roi_size=(40, 40, 20)).set_random_state(1)(full)
    assert tuple(out["image"].shape) == (1, 40, 40, 20)
    assert int((out["label"] == 2).sum()) > 0
    assert old_total > 0


def test_normalised_input_is_refused_with_the_place_to_put_it(files):
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP),
                    ScaleIntensityRanged("image", a_min=-200, a_max=300, b_min=0, b_max=1, clip=True)])
    with pytest.raises(ConfigError, match="before ScaleIntensityRanged"):
        RandLesionSynthesisd(keys, generator=generator())(base(files[0]))


def test_missing_preparation_and_bad_prob_are_clear_errors(files):
    with pytest.raises(ConfigError, match="PrepareLesionSynthesisd before"):
        keys = ("image", "label")
        data = Compose([LoadImaged(keys), EnsureChannelFirstd(keys)])(files[0])
        RandLesionSynthesisd(keys, generator=generator())(data)
    with pytest.raises(ConfigError, match="prob"):
        RandLesionSynthesisd(generator=generator(), prob=1.5)


def test_relabel_false_needs_labels_already_0_1_2():
    with pytest.raises(ConfigError, match="relabel=False"):
        PrepareLesionSynthesisd(("image", "label"), label_map="totalsegmentator", relabel=False)


def test_crops_that_cut_mass_effect_zones(files):
    # small crops anywhere in the organ: lesions that push their surroundings are often cut off
    # their centre by the crop's edge (the mass effect must then take the edge voxel, not fail)
    keys = ("image", "label")
    base = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Orientationd(keys, axcodes="RAS"),
                    PrepareLesionSynthesisd(keys, label_map=LABEL_MAP)])
    from monai.transforms import SpatialCropd

    full = base(files[0])
    pushing = HeuristicGenerator.from_preset(
        "liver_metastasis", counts={"medium": [1, 1], "small": [1, 2]}, mass_effect_min_radius_mm=3.0,
        placement={"on_no_room": "skip"})
    synth = RandLesionSynthesisd(keys, generator=pushing).set_random_state(3)
    lesion_crop = RandLesionCropd(keys, generator=pushing, roi_size=(24, 24, 12)).set_random_state(4)
    rng = np.random.default_rng(5)
    organ = np.argwhere(full["label"][0].numpy() == 1)
    grew = 0
    for _ in range(12):
        centre = [int(v) for v in organ[rng.integers(len(organ))]]
        crop = SpatialCropd(keys, roi_center=centre, roi_size=(24, 24, 12))(full)
        before = (crop["label"] == 2).clone()
        out = synth(crop)
        assert tuple(out["image"].shape) == tuple(crop["image"].shape)
        grew += int(((out["label"] == 2) & ~before).sum())
        patch = lesion_crop(full)
        assert tuple(patch["image"].shape) == (1, 24, 24, 12)
    assert grew > 0
