"""Draw lesions into a prepared case: deterministic, local to each lesion's box, and pure unless
asked to draw in place (``inplace=True``).

For each spec, in order: (1) if it has a mass effect, push the tissue in its zone outward
(image, organ, vessels and tumours move together); (2) compute its geometry and HU offset on its
box; (3) add ``alpha * delta`` to the image where the voxel is organ and neither vessel, nor an
existing tumour, nor ``avoid``; (4) mark as tumour the voxels inside the surface that pass the
same test. A ``single_component`` lesion keeps, in (3) and (4), only its largest 26-connected part
and the blur around it; a ``band`` rim follows the marked voxels' Euclidean depth. Voxels outside
every lesion's box (or mass-effect zone) are bit-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from synthtumor.anatomy import Prepared
from synthtumor.case import Case
from synthtumor.lesions.mass_effect import ZONE_FACTOR, displace
from synthtumor.lesions.shape import edge_reach_mm, lesion_box, lesion_field
from synthtumor.lesions.spec import TumorSpec
from synthtumor.lesions.texture import lesion_delta_hu

__all__ = ["RENDER_VERSION", "RenderedLesion", "RenderResult", "render_lesions", "changeable_voxels"]

#: Raised whenever the same specs come to render to different voxels (a new texture filter, a
#: new draw of the surface terms from ``shape_seed``). Manifests record it; a replay of an older
#: manifest draws the same lesions (place, size, law) with other texture and surface details.
#: 1: up to 2026-11-26; 2: periodic texture filter; 3: surface terms drawn anew, circulant texture;
#: 4: a ``band`` rim follows the rendered mask's depth (fitted presets; other specs render as in 3).
RENDER_VERSION = 4


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


def changeable_voxels(organ: np.ndarray, tumour: np.ndarray, vessels: np.ndarray | None,
                      occupied: np.ndarray | None) -> np.ndarray:
    """The one rule for which voxels a lesion may change (every generator's renderer applies it):
    organ, and none of: tumour already there, a vessel, a voxel ``avoid`` or another structure
    holds (``occupied``). All arrays are the lesion's box, boolean, of one shape."""
    blocked = tumour | vessels if vessels is not None else tumour.copy()
    if occupied is not None:
        blocked |= occupied
    return np.greater(organ, blocked)


def _intersects(a: tuple[slice, ...], b: tuple[slice, ...]) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b))


@lru_cache(maxsize=64)
def _ball_offsets(radius_mm: float, metric_bytes: bytes) -> np.ndarray:
    """Voxel offsets ``o`` (k, 3) with ``|A o| < radius_mm``, ``A^T A`` given as raw float64 bytes."""
    metric = np.frombuffer(metric_bytes, dtype=float).reshape(3, 3)
    reach = np.ceil(radius_mm * np.sqrt(np.diag(np.linalg.inv(metric)))).astype(int)  # per-axis bound
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1)
    lengths2 = np.einsum("ij,jk,ik->i", offsets, metric, offsets)
    inside = offsets[lengths2 < radius_mm * radius_mm]
    inside.setflags(write=False)  # shared through the cache
    return inside


#: Above this many ball offsets the exact check uses a distance transform instead of shifts.
_MAX_SHIFTS = 125


def _clear_of_vessels(vessels: np.ndarray, box: tuple[slice, ...], clearance_mm: float,
                      affine: np.ndarray) -> np.ndarray:
    """Exact check on a box: True where no vessel voxel lies closer than ``clearance_mm``.

    A voxel is too close when a vessel voxel sits within the (anisotropic, possibly sheared)
    ball of that radius: the vessel mask dilated by the ball's voxel offsets, one shifted OR
    per offset on small balls (a few dozen at 1-2 mm clearance), a distance transform on
    large ones where the voxel axes are orthogonal (shifts again on sheared grids).
    """
    a3 = np.asarray(affine, dtype=float)[:3, :3]
    metric = a3.T @ a3
    offsets = _ball_offsets(float(clearance_mm), np.ascontiguousarray(metric).tobytes())
    grow = np.abs(offsets).max(axis=0) if len(offsets) else np.zeros(3, int)
    shape = tuple(s.stop - s.start for s in box)
    big = tuple(slice(max(s.start - g, 0), min(s.stop + g, n)) for s, g, n in zip(box, grow, vessels.shape))
    region = vessels[big]
    if not region.any():
        return np.ones(shape, dtype=bool)
    padded = np.zeros(tuple(n + 2 * g for n, g in zip(shape, grow)), dtype=bool)
    padded[tuple(slice(b.start - s.start + g, b.stop - s.start + g) for b, s, g in zip(big, box, grow))] = region
    spacing = np.sqrt(np.diag(metric))
    if len(offsets) > _MAX_SHIFTS and np.allclose(metric, np.diag(spacing**2)):  # orthogonal axes
        dist = ndi.distance_transform_edt(~padded, sampling=spacing)
        return dist[tuple(slice(g, g + n) for g, n in zip(grow, shape))] >= clearance_mm
    near = np.zeros(shape, dtype=bool)
    for o in offsets:
        near |= padded[tuple(slice(g + d, g + d + n) for g, d, n in zip(grow, o, shape))]
    return ~near


def _largest_part_zone(inside: np.ndarray, spacing: np.ndarray, reach_mm: float) -> np.ndarray:
    """The largest 26-connected part of ``inside`` and the voxels within ``reach_mm`` (the
    edge's blur) of it that are not nearer another part: what a single-component lesion may
    change (everything where ``inside`` is one part or none). The blur of a dropped island is cut
    where the zone ends, without a transition of its own."""
    labels, n = ndi.label(inside, structure=np.ones((3, 3, 3), bool))
    if n <= 1:  # one part (the usual case): nothing to drop
        return np.ones(inside.shape, dtype=bool)
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    part = labels == largest
    zone = ndi.distance_transform_edt(~part, sampling=spacing) <= reach_mm
    nearest = ndi.distance_transform_edt(~inside, sampling=spacing, return_distances=False, return_indices=True)
    zone &= labels[tuple(nearest)] == largest
    return zone


def _rim_follows_mask(spec: TumorSpec) -> bool:
    """A ``band`` rim (fitted presets) follows the rendered mask's depth (lesions/texture.py)."""
    return spec.intensity.rim_profile == "band" and spec.intensity.pattern in ("enhancing_rim", "necrotic_core")


def _rendered_depth_mm(inside: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Euclidean depth (mm, float32) of each voxel of ``inside`` below its surface; 0 outside."""
    return ndi.distance_transform_edt(np.pad(inside, 1), sampling=spacing)[1:-1, 1:-1, 1:-1].astype(np.float32)


def render_lesions(prepared: Prepared, specs: list[TumorSpec], *, inplace: bool = False) -> RenderResult:
    """Draw ``specs`` into the prepared case and return the new case.

    By default the input is left untouched and the output owns fresh arrays (a full copy of
    the volume, which on a 1 mm abdomen costs more than the lesions). With ``inplace=True``
    the lesions are drawn into the prepared case's own image and masks, and the output
    shares them: for callers that own a private copy already, such as the on-the-fly
    transforms.

    Each spec's ``vessel_clearance_mm`` is guaranteed by placement; where a mass effect has
    moved the vessels in a lesion's box, or the lesion wraps around vessels (``wraps_vessels``),
    it is enforced exactly on that box (the vessel
    mask dilated by the clearance ball, see :func:`_clear_of_vessels`).

    Args:
        prepared: from :func:`synthtumor.anatomy.prepare_case`.
        specs: the lesions; those with a mass effect are drawn first, the others in order.
        inplace: draw into the prepared case's arrays instead of copies: then
            ``prepared.case.image`` and ``prepared.case.tumor`` are modified, and
            ``prepared.organ`` and ``prepared.vessels`` where a mass effect moves them (a case
            without a tumour mask gets a new one, in the output only).

    Returns:
        A :class:`RenderResult`; the input case is left unmodified unless ``inplace``.
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
            # displace cuts the box to the ball where anything moves (inside the zone, inside `touched`)
            displace(volumes, np.asarray(spec.centre_mm), affine, touched, zone, spec.mass_effect)
        field = lesion_field(spec, affine, box)
        allowed = changeable_voxels(organ[box], tumor[box], vessels[box] if vessels is not None else None,
                                    occupied[box] if occupied is not None else None)
        clearance = spec.vessel_clearance_mm
        if vessels is not None and clearance > 0 and (
                spec.wraps_vessels or zone or any(_intersects(box, m) for m in moved)):
            allowed &= _clear_of_vessels(vessels, box, clearance, affine)
        inside = field.signed_mm <= 0
        inside &= allowed
        if spec.single_component:
            keep = _largest_part_zone(inside, spacing, edge_reach_mm(spec, affine))
            inside &= keep
            allowed &= keep
        depth = _rendered_depth_mm(inside, spacing) if _rim_follows_mask(spec) else None
        delta = lesion_delta_hu(spec, field, spacing, prepared.parenchyma_median_hu, depth)
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
