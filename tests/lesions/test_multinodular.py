"""Multi-nodular lesions: the union of a main body and sub-nodules."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.errors import ConfigError
from synthtumor.lesions.shape import lesion_box, lesion_field, single_field
from synthtumor.lesions.spec import TumorSpec, nodule_spec

EYE = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _spec(nodules=(), **kw):
    base = dict(centre_mm=(40.0, 40.0, 40.0), radii_mm=(8.0, 6.0, 5.0), rotation=EYE, size_class="small",
                shape_seed=3, texture_seed=4, lobulation=0.0, irregularity=0.0, edge_width_mm=1.0)
    base.update(kw)
    return TumorSpec(nodules=nodules, **base)


def test_union_holds_every_body_and_nothing_else():
    affine = np.eye(4)
    shape = (80, 80, 80)
    spec = _spec(nodules=((0.9, 0.0, 0.0, 0.5), (0.0, -0.8, 0.3, 0.6)))
    box = lesion_box(spec, affine, shape)
    field = lesion_field(spec, affine, box)
    whole = tuple(slice(0, n) for n in shape)
    bodies = [single_field(spec, affine, whole)] + [single_field(nodule_spec(spec, k), affine, whole) for k in range(2)]
    inside = np.zeros(shape, bool)
    inside[box] = field.signed_mm <= 0
    expected = np.logical_or.reduce([b.signed_mm <= 0 for b in bodies])
    np.testing.assert_array_equal(inside, expected)
    # the nodules reach beyond the main body, and the box holds every voxel with alpha > 0
    assert expected.sum() > (bodies[0].signed_mm <= 0).sum()
    assert all(((b.alpha > 0) & ~_in_box(box, shape)).sum() == 0 for b in bodies)
    # the extent bounds every voxel's distance to the centre
    idx = np.argwhere(expected)
    assert np.linalg.norm(idx - 40.0, axis=1).max() <= spec.max_extent_mm + 1e-6


def _in_box(box, shape):
    mask = np.zeros(shape, bool)
    mask[box] = True
    return mask


def test_union_rho_norm_has_a_core_in_each_body():
    affine = np.eye(4)
    spec = _spec(nodules=((1.0, 0.0, 0.0, 0.6),))
    box = lesion_box(spec, affine, (80, 80, 80))
    field = lesion_field(spec, affine, box)
    sub = nodule_spec(spec, 0)
    centre = tuple(int(round(c)) - b.start for c, b in zip(sub.centre_mm, box))
    assert field.rho_norm[centre] < 0.2


def test_nodule_validation_and_json_roundtrip():
    with pytest.raises(ConfigError):
        _spec(nodules=((2.0, 0.0, 0.0, 0.5),))
    with pytest.raises(ConfigError):
        _spec(nodules=((0.5, 0.0, 0.0, 0.0),))
    spec = _spec(nodules=((0.5, 0.1, 0.0, 0.5),))
    assert TumorSpec.from_dict(spec.to_dict()) == spec
    old = spec.to_dict()
    del old["nodules"]  # a manifest written before sub-nodules existed
    assert TumorSpec.from_dict(old).nodules == ()


def test_a_multinodular_lesion_beyond_a_thin_volume_has_a_box_that_fits_it():
    """A training patch three slices deep, the lesion wholly above or partly in it: the union box
    stays inside the volume, and the field and the rendered case agree with it (an empty span
    past the volume's end once stretched the box beyond it and the renderer crashed)."""
    import numpy as np

    from synthtumor.lesions.shape import lesion_box, lesion_field
    from synthtumor.lesions.spec import TumorSpec

    affine = np.diag([2.0, 2.0, 2.5, 1.0])
    shape = (40, 40, 3)
    for centre_z in (-30.0, 3.0, 30.0):
        spec = TumorSpec(centre_mm=(40.0, 40.0, centre_z), radii_mm=(12.0, 10.0, 8.0),
                         rotation=((1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0)), size_class="medium", shape_seed=1,
                         texture_seed=2, nodules=((0.6, 0.0, 0.5, 0.5),))
        box = lesion_box(spec, affine, shape)
        assert all(0 <= s.start <= s.stop <= n for s, n in zip(box, shape))
        assert lesion_field(spec, affine, box).signed_mm.shape == np.zeros(shape)[box].shape
