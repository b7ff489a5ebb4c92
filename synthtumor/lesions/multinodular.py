"""Multi-nodular (lobulated, confluent) lesions: the union of a main body and sub-nodules.

A spec with ``nodules`` is drawn as the union of its main perturbed ellipsoid and, per
sub-nodule ``(q, s)``, a perturbed ellipsoid with the same rotation, radii ``s r`` and centre
``c + R (q * r)`` mm (:func:`synthtumor.lesions.spec.nodule_spec`). Union of soft shapes: the
signed distance is the minimum of the bodies' (mm), alpha the maximum, and the normalised
radius (0 at a body's centre, 1 on its surface) the minimum, so a necrotic core forms in each
body. Each sub-nodule is evaluated on its own box only (cut to the lesion's box), so a nodule of
half the main radius costs about an eighth of the main body.
"""

from __future__ import annotations

import numpy as np

from synthtumor.lesions.shape import LesionField, ball_box, edge_reach_mm, single_box, single_field
from synthtumor.lesions.spec import MARGIN_OUTWARD, TumorSpec, nodule_spec

__all__ = ["union_box", "union_field"]


def union_box(spec: TumorSpec, affine: np.ndarray, shape: tuple[int, ...], extra_mm: float = 0.0
              ) -> tuple[slice, slice, slice]:
    """The voxel box holding every body's box; with ``extra_mm > 0`` the ball of radius
    ``max_extent + (edge reach + margin_mm) x max(r) / min(r) + extra_mm`` around the centre (which holds
    every body's grown ellipsoid, as :func:`~synthtumor.lesions.shape.single_box` grows them)."""
    if extra_mm > 0.0:
        reach = (edge_reach_mm(spec, affine) + MARGIN_OUTWARD * spec.margin_mm) * max(spec.radii_mm) / min(spec.radii_mm)
        return ball_box(spec.centre_mm, spec.max_extent_mm + reach + extra_mm, affine, shape)
    boxes = [single_box(spec, affine, shape)]
    boxes += [single_box(nodule_spec(spec, k), affine, shape) for k in range(len(spec.nodules))]
    out = []
    for axis in range(3):
        lo = min(b[axis].start for b in boxes if b[axis].stop > b[axis].start) if any(
            b[axis].stop > b[axis].start for b in boxes) else 0
        hi = max(b[axis].stop for b in boxes)
        out.append(slice(lo, max(hi, lo)))
    return tuple(out)  # type: ignore[return-value]


def union_field(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, slice, slice]) -> LesionField:
    """The union of the main body's and each sub-nodule's field on ``box`` (see module docstring)."""
    main = single_field(spec, affine, box)
    signed, alpha = main.signed_mm, main.alpha
    rho_norm = main.rho_norm.copy()
    stops = tuple(b.stop for b in box)
    for k in range(len(spec.nodules)):
        sub = nodule_spec(spec, k)
        own = single_box(sub, affine, stops)
        inter = tuple(slice(max(o.start, b.start), min(o.stop, b.stop)) for o, b in zip(own, box))
        if any(i.stop <= i.start for i in inter):
            continue
        field = single_field(sub, affine, inter)
        rel = tuple(slice(i.start - b.start, i.stop - b.start) for i, b in zip(inter, box))
        np.minimum(signed[rel], field.signed_mm, out=signed[rel])
        np.maximum(alpha[rel], field.alpha, out=alpha[rel])
        np.minimum(rho_norm[rel], field.rho_norm, out=rho_norm[rel])
    main.__dict__["rho_norm"] = rho_norm  # the cached property's slot
    return main
