"""Multi-nodular (lobulated, confluent) lesions: the union of a main body and sub-nodules.

A spec with ``nodules`` is drawn as the union of its main perturbed ellipsoid and, per
sub-nodule ``(q, s)``, a perturbed ellipsoid with the same rotation, radii ``s r`` and centre
``c + R (q * r)`` mm (:func:`synthtumor.lesions.spec.nodule_spec`). Union of soft shapes: the
signed distance is the minimum of the bodies' (mm), alpha the maximum, and the normalised
radius (0 at a body's centre, 1 on its surface) the minimum, so a necrotic core forms in each
body. Each body is evaluated on its own box only (cut to the lesion's box), so a nodule of half
the main radius costs about an eighth of the main body; an infiltrative margin is drawn once on
the lesion's box and shared by its bodies.
"""

from __future__ import annotations

import numpy as np

from synthtumor.lesions.shape import LesionField, edge_reach_mm, margin_noise, single_box, single_field
from synthtumor.lesions.voxel_grid import ball_box, voxel_offsets
from synthtumor.lesions.spec import MARGIN_OUTWARD, TumorSpec, nodule_spec

__all__ = ["union_box", "union_field"]

#: Signed distance (mm) and normalised radius given to the voxels of the box outside every body's own box.
_FAR_MM = 1.0e3
_FAR_RHO = 10.0


def union_box(spec: TumorSpec, affine: np.ndarray, shape: tuple[int, ...], extra_mm: float = 0.0
              ) -> tuple[slice, slice, slice]:
    """The voxel box holding every body's box; with ``extra_mm > 0`` the ball of radius
    ``max_extent + (edge reach + margin_mm) x max(r) / min(r) + extra_mm`` around the centre (which holds
    every body's grown ellipsoid, as :func:`~synthtumor.lesions.shape.single_box` grows them)."""
    if extra_mm > 0.0:
        reach = ((edge_reach_mm(spec, affine) + MARGIN_OUTWARD * spec.margin_mm)
                 * max(spec.radii_mm) / min(spec.radii_mm))
        return ball_box(spec.centre_mm, spec.max_extent_mm + reach + extra_mm, affine, shape)
    boxes = [single_box(spec, affine, shape)]
    boxes += [single_box(nodule_spec(spec, k), affine, shape) for k in range(len(spec.nodules))]
    out = []
    for axis in range(3):
        # only bodies that reach into the volume count: an empty span (a body beyond the volume,
        # e.g. outside a training patch) may lie past its end and must not stretch the box
        spans = [b[axis] for b in boxes if b[axis].stop > b[axis].start]
        out.append(slice(min(s.start for s in spans), max(s.stop for s in spans)) if spans else slice(0, 0))
    return tuple(out)  # type: ignore[return-value]


def union_field(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, slice, slice]) -> LesionField:
    """The union of the main body's and each sub-nodule's field on ``box`` (see module docstring).

    Every body is evaluated on its own box only; the rest of ``box`` is outside (signed distance
    ``_FAR_MM``, alpha 0). One margin displacement is drawn on the whole box and shared by the bodies.
    """
    shape = tuple(b.stop - b.start for b in box)
    signed = np.full(shape, _FAR_MM, dtype=np.float32)
    alpha = np.zeros(shape, dtype=np.float32)
    rho_norm = np.full(shape, _FAR_RHO, dtype=np.float32)
    spacing = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    noise = margin_noise(spec, shape, spacing) if spec.margin_mm > 0 else None
    stops = tuple(b.stop for b in box)
    for body in [spec] + [nodule_spec(spec, k) for k in range(len(spec.nodules))]:
        own = single_box(body, affine, stops)
        inter = tuple(slice(max(o.start, b.start), min(o.stop, b.stop)) for o, b in zip(own, box))
        if any(i.stop <= i.start for i in inter):
            continue
        rel = tuple(slice(i.start - b.start, i.stop - b.start) for i, b in zip(inter, box))
        field = single_field(body, affine, inter, None if noise is None else noise[rel])
        np.minimum(signed[rel], field.signed_mm, out=signed[rel])
        np.maximum(alpha[rel], field.alpha, out=alpha[rel])
        np.minimum(rho_norm[rel], field.rho_norm, out=rho_norm[rel])
    a3 = np.asarray(affine, dtype=float)[:3, :3]
    to_q = (np.asarray(spec.rotation, dtype=float).T @ a3) / np.asarray(spec.radii_mm)[:, None]
    out = LesionField(box, signed, alpha, None, None, to_q, voxel_offsets(spec.centre_mm, affine, box), a3.copy())
    out.__dict__["rho_norm"] = rho_norm  # the cached property's slot
    return out
