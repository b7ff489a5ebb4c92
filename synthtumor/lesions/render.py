"""Draw lesions into a prepared case: pure, deterministic, and local to each lesion's box.

For each spec, in order: (1) if it has a mass effect, push the tissue in its zone outward
(image, organ, vessels and tumours move together); (2) compute its geometry and HU offset on its
box; (3) add ``alpha * delta`` to the image where the voxel is organ and neither vessel, nor an
existing tumour, nor ``avoid``; (4) mark as tumour the voxels inside the surface that pass the
same test. Voxels outside every lesion's box are bit-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from synthtumor.anatomy import Prepared
from synthtumor.case import Case
from synthtumor.lesions.mass_effect import ZONE_FACTOR, displace, zone_box
from synthtumor.lesions.shape import lesion_box, lesion_field
from synthtumor.lesions.spec import TumorSpec
from synthtumor.lesions.texture import lesion_delta_hu

__all__ = ["RenderedLesion", "RenderResult", "render_lesions"]


@dataclass(frozen=True)
class RenderedLesion:
    """What one spec became: its voxel count and volume, and the box it touched."""

    voxels: int
    volume_ml: float
    box: tuple[tuple[int, int], ...]


@dataclass(eq=False)
class RenderResult:
    """The new case and, per spec, what was drawn."""

    case: Case
    lesions: list[RenderedLesion]

    @property
    def zones(self) -> list[tuple[slice, ...]]:
        """The boxes outside which nothing changed."""
        return [tuple(slice(a, b) for a, b in les.box) for les in self.lesions]


def _intersects(a: tuple[slice, ...], b: tuple[slice, ...]) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b))


def _clear_of_vessels(vessels: np.ndarray, box: tuple[slice, ...], clearance_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Exact check on a box: True where the nearest vessel voxel is >= clearance_mm away."""
    grow = np.ceil(clearance_mm / spacing).astype(int) + 1
    big = tuple(slice(max(s.start - g, 0), min(s.stop + g, n)) for s, g, n in zip(box, grow, vessels.shape))
    region = vessels[big]
    if not region.any():
        return np.ones(tuple(s.stop - s.start for s in box), dtype=bool)
    dist = ndi.distance_transform_edt(~region, sampling=spacing)
    inner = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(box, big))
    return dist[inner] >= clearance_mm


def render_lesions(prepared: Prepared, specs: list[TumorSpec], *, inplace: bool = False) -> RenderResult:
    """Draw ``specs`` into the prepared case and return the new case.

    By default the input is left untouched and the output owns fresh arrays (a full copy of
    the volume, which on a 1 mm abdomen costs more than the lesions). With ``inplace=True``
    the lesions are drawn into the prepared case's own image and masks, and the output
    shares them: for callers that own a private copy already, such as the on-the-fly
    transforms.

    Each spec's ``vessel_clearance_mm`` is guaranteed by placement; where a mass effect has
    moved the vessels in a lesion's box, it is enforced again exactly by a local distance
    transform.

    Args:
        prepared: from :func:`synthtumor.anatomy.prepare_case`.
        specs: the lesions; those with a mass effect are drawn first, the others in order.
        inplace: draw into the prepared case's arrays instead of copies.

    Returns:
        A :class:`RenderResult`; the input case is not modified.
    """
    case = prepared.case
    affine = case.affine
    spacing = np.asarray(case.spacing)
    voxel_ml = case.voxel_volume_ml
    own = (lambda a: a) if inplace else (lambda a: a.copy())
    image = own(case.image)
    organ = own(prepared.organ)
    vessels = own(prepared.vessels) if prepared.vessels is not None else None
    tumor = own(case.tumor) if case.tumor is not None else np.zeros(case.shape, dtype=bool)
    occupied = prepared.occupied
    moved: list[tuple[slice, ...]] = []
    rendered: dict[int, RenderedLesion] = {}
    # lesions that push their surroundings go first, so every later lesion sees the moved vessels
    order = sorted(range(len(specs)), key=lambda i: specs[i].mass_effect <= 0)
    for index in order:
        spec = specs[index]
        zone = ZONE_FACTOR * spec.max_extent_mm if spec.mass_effect > 0 else 0.0
        box = lesion_box(spec, affine, case.shape)
        touched = box
        if zone:
            touched = lesion_box(spec, affine, case.shape, extra_mm=zone - spec.max_extent_mm)
            volumes = {"image": image, "organ": organ, "tumor": tumor}
            if vessels is not None:
                volumes["vessels"] = vessels
            ball = zone_box(spec.centre_mm, zone, affine, case.shape)  # inside `touched`
            displace(volumes, np.asarray(spec.centre_mm), affine, ball, zone, spec.mass_effect)
        field = lesion_field(spec, affine, box)
        blocked = tumor[box] | vessels[box] if vessels is not None else tumor[box].copy()
        if occupied is not None:
            blocked |= occupied[box]
        allowed = np.greater(organ[box], blocked)  # organ and not blocked
        clearance = spec.vessel_clearance_mm
        if vessels is not None and clearance > 0 and (zone or any(_intersects(box, m) for m in moved)):
            allowed &= _clear_of_vessels(vessels, box, clearance, spacing)
        inside = field.signed_mm <= 0
        inside &= allowed
        delta = lesion_delta_hu(spec, field, spacing, prepared.parenchyma_median_hu)
        delta *= field.alpha
        delta *= allowed
        image[box] += delta
        tumor[box] |= inside
        if zone:
            moved.append(touched)
        count = int(inside.sum())
        rendered[index] = RenderedLesion(count, count * voxel_ml, tuple((s.start, s.stop) for s in touched))
    out = Case.trusted(
        image=image, affine=case.affine, case_id=case.case_id, organ=organ,
        vessels=vessels if (case.vessels is not None or prepared.vessel_source != "none") else None,
        tumor=tumor, avoid=case.avoid, phase=case.phase, source=case.source,
    )
    return RenderResult(out, [rendered[i] for i in range(len(specs))])
