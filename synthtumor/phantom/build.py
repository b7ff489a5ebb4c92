"""`make_phantom`: one procedural abdominal CT with its liver, vessel and lesion masks.

The pipeline (each step draws from the case's own generator, in this fixed order):

1. case-level draws: liver volume ``V ~ U(liver_volume_range)`` L and noise level
   ``sigma ~ U(noise_sigma_range)`` HU;
2. anatomy, painted in :data:`synthtumor.phantom.labels.PAINT_ORDER`: body wall and cavity,
   diaphragm, lung bases and heart; spine and paraspinal/psoas muscles; ribs; aorta and IVC;
   kidneys; spleen; stomach; small bowel and colon; liver; portal and hepatic-vein trees;
   reference lesions;
3. intensities: per-structure HU for the phase, smooth parenchymal texture, lesion interiors,
   Gaussian point-spread blur, correlated noise, rounding to integer HU and clipping to
   [-1024, 3071].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthtumor.case import Case
from synthtumor.errors import ConfigError
from synthtumor.phantom.body import build_body, paint_great_vessels, paint_ribs, paint_spine
from synthtumor.phantom.config import PhantomConfig
from synthtumor.phantom.geometry import Grid
from synthtumor.phantom.intensity import apply_psf, base_image, draw_tissue_hu
from synthtumor.phantom.labels import LABELS, LEGEND
from synthtumor.phantom.lesions import grow_reference_lesions, lesion_hu
from synthtumor.phantom.liver import build_liver
from synthtumor.phantom.liver_vessels import build_liver_vessels
from synthtumor.phantom.noise import correlated_noise
from synthtumor.phantom.organs import paint_bowel, paint_kidneys, paint_spleen, paint_stomach
from synthtumor.phantom.tubes import Tubes

__all__ = ["Phantom", "make_phantom", "phantom_seed"]

HU_MIN, HU_MAX = -1024.0, 3071.0


@dataclass(eq=False)
class Phantom:
    """A procedural abdominal CT.

    Attributes:
        case: the scan: ``image`` float32 integer-valued HU, RAS+ diagonal affine, ``organ`` the
            liver (intrahepatic vessels and lesions included, IVC excluded), ``vessels`` the
            portal tree, hepatic veins and IVC, ``tumor`` the reference lesions (all False when
            there are none), ``phase`` and ``case_id`` set.
        anatomy: uint8 label map of every structure on the same grid (see ``legend``).
        legend: label value -> structure name (0 is background air).
        lesions: one JSON-able record per reference lesion: ``centre_mm`` (world RAS+ mm),
            ``equivalent_radius_mm``, ``volume_ml``, ``pattern`` (``solid``, ``rim`` or
            ``necrotic``), ``target_radius_mm`` and the HU drawn for it. Reference lesions are a
            stand-in for real tumours (see :mod:`synthtumor.phantom.lesions`).
        info: JSON-able per-case facts: drawn liver volume, noise sigma, tissue HU, vessel
            radius scale.
    """

    case: Case
    anatomy: np.ndarray
    legend: dict[int, str]
    lesions: list[dict]
    info: dict = field(default_factory=dict)


def phantom_seed(run_seed: int, index: int) -> np.random.Generator:
    """Generator for case ``index`` of a run seeded ``run_seed``.

    ``np.random.SeedSequence(run_seed, spawn_key=(index,))``: it depends only on the pair, never
    on worker order, so any number of workers produces the same cases.

    Raises:
        ConfigError: either number is negative or not an integer.
    """
    for name, value in (("run_seed", run_seed), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ConfigError(f"{name} = {value!r} must be a non-negative integer.",
                              fix=f"pass a whole number >= 0 as {name}.")
    return np.random.default_rng(np.random.SeedSequence(int(run_seed), spawn_key=(int(index),)))


def make_phantom(config: PhantomConfig, rng: np.random.Generator, case_id: str = "phantom_000") -> Phantom:
    """Build one phantom CT.

    Args:
        config: phantom settings.
        rng: the case's random generator (e.g. from :func:`phantom_seed`); the same generator
            state gives bit-identical arrays.
        case_id: the case's id.

    Returns:
        The :class:`Phantom`.

    Raises:
        ConfigError: ``config`` is not a PhantomConfig, or the liver cannot hold the requested
            reference lesions.
        InvalidCaseError: ``case_id`` is not a plain name.
    """
    if not isinstance(config, PhantomConfig):
        raise ConfigError(f"make_phantom needs a PhantomConfig, got {type(config).__name__}.",
                          fix="build one with PhantomConfig(...) or PhantomConfig.from_yaml(path).")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    Case(np.zeros((1, 1, 1), np.float32), np.eye(4), case_id)  # fail fast on a malformed id
    grid = Grid.centred(config.field_of_view, config.spacing)
    v = config.anatomy_variability
    liver_volume_l = float(rng.uniform(*config.liver_volume_range))
    noise_sigma = float(rng.uniform(*config.noise_sigma_range))

    anatomy = np.zeros(grid.shape, dtype=np.uint8)
    frame = build_body(grid, anatomy, rng, v)
    paint_spine(grid, anatomy, frame, rng, v)
    paint_ribs(grid, anatomy, frame, rng, v)
    paint_great_vessels(grid, anatomy, frame)
    paint_kidneys(grid, anatomy, frame, rng, v)
    paint_spleen(grid, anatomy, frame, rng, v)
    paint_stomach(grid, anatomy, frame, rng, v)
    paint_bowel(grid, anatomy, frame, rng, v)
    liver = build_liver(grid, anatomy, frame, rng, v, liver_volume_l)
    trees = build_liver_vessels(grid, anatomy, liver, frame, rng, v, config.vessel_generations,
                                config.vessel_fraction)
    lesions = grow_reference_lesions(grid, anatomy, liver, Tubes.concat([trees.portal, trees.hepatic]),
                                     config.n_lesions, config.lesion_radius_range, rng)

    hu = draw_tissue_hu(config.phase, rng, config.intensity_spread)
    image = base_image(grid, anatomy, hu, config.texture_hu, rng)
    for lesion in lesions:
        view = image[lesion.box.slices]
        view[lesion.mask] = lesion_hu(grid, lesion, config.phase, hu["liver"], rng)[lesion.mask]
    image = apply_psf(image, grid.spacing, config.psf_sigma_mm)
    image += correlated_noise(grid.shape, grid.spacing, noise_sigma, rng,
                              config.noise_grain_mm, config.noise_cutoff_mm)
    np.rint(image, out=image)
    np.clip(image, HU_MIN, HU_MAX, out=image)

    organ = np.zeros(grid.shape, dtype=bool)
    organ[liver.box.slices] = liver.mask
    vessels = np.isin(anatomy, [LABELS["portal_vein"], LABELS["hepatic_veins"], LABELS["ivc"]])
    case = Case(image=image, affine=grid.affine, case_id=case_id, organ=organ, vessels=vessels,
                tumor=anatomy == LABELS["tumour"], phase=config.phase)
    info = {
        "liver_volume_l": round(liver.volume_ml / 1000.0, 4),
        "liver_volume_target_l": round(liver_volume_l, 4),
        "noise_sigma_hu": round(noise_sigma, 3),
        "vessel_radius_scale": round(trees.scale, 4),
        "tissue_hu": {k: round(val, 1) for k, val in hu.items()},
    }
    return Phantom(case=case, anatomy=anatomy, legend=dict(LEGEND), lesions=[les.record for les in lesions],
                   info=info)
