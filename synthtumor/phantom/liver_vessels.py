"""Plan, grow, size and paint the liver's portal venous tree and hepatic veins.

* Portal tree: the trunk (radius ``~ 7.2 + U(-0.8, 0.8)`` mm) comes from below and medially,
  outside the liver, and enters at the hilum on the inferior-medial surface; ~18 mm inside it
  splits into the right (share of ``r^3`` ``~ U(0.55, 0.7)``) and left main branches, aimed at the
  centroids of the right and left parts of the liver, which then branch (see ``vessels``).
* Hepatic veins: right, middle and left trunks (radii ``~ 6.3, 5.8, 5.2 + U(-0.7, 0.7)`` mm) leave
  one confluence on the anterior wall of the IVC ~18 mm below the top of the liver and branch
  downwards, keeping clear of the portal tree. Starting from one point, the three trunks form
  one connected tree that touches the IVC.
* Sizing: the radii of both trees are scaled (by at most ``[0.75, 1.25]``, twice at most) so that
  vessel voxels fill about ``vessel_fraction`` of the liver.
* Painting: portal voxels overwrite soft tissue (never bone, the aorta or the IVC); hepatic-vein
  voxels also spare the portal tree. As a last guard, each tree keeps only its largest
  26-connected component (fragments revert to liver or fat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from synthtumor.phantom.body import BodyFrame
from synthtumor.phantom.geometry import Grid, around
from synthtumor.phantom.labels import LABELS
from synthtumor.phantom.liver import Liver
from synthtumor.phantom.tubes import Tubes, min_connected_radius, tube_mask
from synthtumor.phantom.vessels import PointCloud, Root, TreeParams, grow_trees

__all__ = ["LiverVessels", "build_liver_vessels"]

_PORTAL, _HEPATIC, _IVC = 1, 2, 3
_PROTECTED = {LABELS[n] for n in ("background", "skin", "ivc", "aorta", "vertebra", "vertebra_cortex",
                                  "ribs", "spinal_canal", "heart", "lung")}


@dataclass
class LiverVessels:
    """The two trees as tubes (after sizing), the radius scale applied and guard statistics."""

    portal: Tubes
    hepatic: Tubes
    scale: float
    dropped_voxels: int


def _liver_points(liver: Liver) -> np.ndarray:
    dm = liver.depth
    idx = np.argwhere(dm.depth > 0)
    return dm.origin + idx * dm.step


def _portal_roots(liver: Liver, frame: BodyFrame, rng: np.random.Generator, v: float
                  ) -> tuple[Tubes, list]:
    pts = _liver_points(liver)
    deep = pts[liver.depth.at(pts) >= 10.0]
    if not len(deep):
        deep = pts
    ivc = frame.ivc_axis
    aim = np.array([ivc[0, 0] + around(rng, 20, 5, v), ivc[0, 1] + around(rng, 25, 5, v),
                    pts[:, 2].mean() - around(rng, 15, 5, v)])
    hilum = deep[int(np.argmin(np.linalg.norm(deep - aim, axis=1)))]
    r_trunk = around(rng, 7.2, 0.8, v)
    # the trunk comes from below and medially, outside the liver, and enters at the hilum
    approach = np.array([-around(rng, 0.45, 0.1, v), around(rng, 0.1, 0.1, v), -1.0])
    approach /= np.linalg.norm(approach)
    ts = np.arange(0.0, 120.0, 2.0)
    inside = liver.depth.at(hilum + ts[:, None] * approach) > 0
    exit_at = ts[int(np.argmax(~inside))] if (~inside).any() else ts[-1]
    entry = hilum + exit_at * approach
    start = hilum + (exit_at + around(rng, 35, 5, v)) * approach
    trunk = Tubes.polyline(np.stack([start, entry, hilum]), [r_trunk * 1.03, r_trunk, r_trunk * 0.97])
    r_h = r_trunk * 0.97
    share = rng.uniform(0.55, 0.7)
    x_cut = np.quantile(pts[:, 0], 1.0 - share)
    right = np.flatnonzero(pts[:, 0] >= x_cut)
    left = np.flatnonzero(pts[:, 0] < x_cut)
    roots = [Root(hilum, pts[right].mean(axis=0) - hilum, r_h * share ** (1 / 3), right),
             Root(hilum, pts[left].mean(axis=0) - hilum, r_h * (1 - share) ** (1 / 3), left)]
    return trunk, roots


def _hepatic_roots(liver: Liver, frame: BodyFrame, rng: np.random.Generator, v: float) -> list:
    pts = _liver_points(liver)
    axis = frame.ivc_axis[:-1]
    near = np.abs(pts[:, 0] - np.interp(pts[:, 2], axis[:, 2], axis[:, 0])) < 30.0
    near &= np.abs(pts[:, 1] - np.interp(pts[:, 2], axis[:, 2], axis[:, 1])) < 30.0
    z_top = float(pts[near, 2].max()) if near.any() else float(pts[:, 2].max())
    out = np.array([0.3, 1.0, 0.0]) / np.linalg.norm([0.3, 1.0, 0.0])
    dirs = [np.asarray(d) / np.linalg.norm(d) + rng.normal(0.0, 0.1, 3)
            for d in ((1.0, -0.15, -0.55), (0.25, 1.0, -0.7), (-1.0, 0.7, -0.35))]
    radii = [around(rng, 6.3, 0.7, v), around(rng, 5.8, 0.7, v), around(rng, 5.2, 0.7, v)]
    z_pref = z_top - around(rng, 18, 4, v)
    best, best_score = None, -np.inf
    for z_c in np.concatenate([[z_pref], np.arange(z_pref - 4.0, z_pref - 70.0, -4.0)]):
        centre = np.array([np.interp(z_c, axis[:, 2], axis[:, 0]),
                           np.interp(z_c, axis[:, 2], axis[:, 1]), z_c])
        confluence = centre + (frame.ivc_radius + 1.5) * out
        probes = np.stack([confluence + 14.0 * d / np.linalg.norm(d) for d in dirs])
        score = float(liver.depth.at(probes).min())
        if score > best_score:
            best, best_score = confluence, score
        if score >= 7.0:
            break
    azimuth = np.arctan2(pts[:, 1] - best[1], pts[:, 0] - best[0])
    trunk_az = np.array([np.arctan2(d[1], d[0]) for d in dirs])
    owner = np.argmax(np.cos(azimuth[:, None] - trunk_az[None, :]), axis=1)
    return [Root(best, d, r, np.flatnonzero(owner == i), 14.0) for i, (d, r) in enumerate(zip(dirs, radii))]


def build_liver_vessels(grid: Grid, anatomy: np.ndarray, liver: Liver, frame: BodyFrame,
                        rng: np.random.Generator, v: float, generations: int, fraction: float
                        ) -> LiverVessels:
    """Grow, size and paint both trees (labels ``portal_vein`` and ``hepatic_veins``).

    Args:
        grid: voxel grid.
        anatomy: label map holding the liver and everything painted before it.
        liver: the liver (mask and depth map).
        frame: body reference geometry (IVC position).
        rng: random generator.
        v: anatomy variability multiplier.
        generations: bifurcation generations after the main branches.
        fraction: target vessel volume fraction of the liver.
    """
    r_min = min_connected_radius(grid.spacing)
    params = TreeParams(generations=generations, raster_radius_mm=r_min,
                        gap_mm=max(1.5, 1.2 * max(grid.spacing)))
    cloud = PointCloud()
    cloud.add_tubes(frame.ivc, _IVC, step_mm=3.0)
    points = _liver_points(liver)
    trunk, portal_roots = _portal_roots(liver, frame, rng, v)
    hepatic_roots = _hepatic_roots(liver, frame, rng, v)
    cloud.add_tubes(trunk, _PORTAL)
    # the hepatic trunks start on the IVC wall: ignore the IVC right at the confluence
    cloud.ignore_near(_IVC, hepatic_roots[0].start, frame.ivc_radius + 8.0)
    grown = grow_trees({_PORTAL: portal_roots, _HEPATIC: hepatic_roots}, points, liver.depth, cloud,
                       rng, params, friends={_HEPATIC: {_IVC}})
    portal = Tubes.concat([trunk, grown[_PORTAL]])
    hepatic = grown[_HEPATIC]

    liver_count = max(1, int(np.count_nonzero(liver.mask)))
    scale = 1.0
    for _ in range(3):
        masks = [tube_mask(grid, t.scaled(scale), r_min) for t in (portal, hepatic)]
        inside = sum(_count_inside(box, m, liver) for box, m in masks)
        achieved = inside / liver_count
        if abs(achieved / fraction - 1.0) <= 0.12 or achieved == 0:
            break
        new = float(np.clip(scale * np.sqrt(fraction / achieved), 0.75, 1.25))
        if new == scale:
            break
        scale = new
    dropped = 0
    for (box, mask), name, spare in ((masks[0], "portal_vein", set()),
                                     (masks[1], "hepatic_veins", {LABELS["portal_vein"]})):
        view = anatomy[box.slices]
        protected = np.isin(view, list(_PROTECTED | spare))
        view[mask & ~protected] = LABELS[name]
        dropped += _keep_largest(anatomy, box, liver, LABELS[name])
    return LiverVessels(portal.scaled(scale), hepatic.scaled(scale), scale, dropped)


def _overlap(box, liver: Liver) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where ``box`` and the liver's box overlap, as slices of each box; None if they do not."""
    lo = np.maximum(box.lo, liver.box.lo)
    hi = np.minimum(box.hi, liver.box.hi)
    if np.any(hi <= lo):
        return None
    return tuple(tuple(slice(start - o, stop - o) for start, stop, o in zip(lo, hi, origin))
                 for origin in (box.lo, liver.box.lo))


def _count_inside(box, mask: np.ndarray, liver: Liver) -> int:
    overlap = _overlap(box, liver)
    if overlap is None:
        return 0
    a, b = overlap
    return int(np.count_nonzero(mask[a] & liver.mask[b]))


def _keep_largest(anatomy: np.ndarray, box, liver: Liver, label: int) -> int:
    view = anatomy[box.slices]
    tree = view == label
    labels, n = ndi.label(tree, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    stray = tree & (labels != int(np.argmax(sizes)))
    in_liver = np.zeros_like(stray)
    overlap = _overlap(box, liver)
    if overlap is not None:
        a, b = overlap
        in_liver[a] = liver.mask[b]
    view[stray & in_liver] = LABELS["liver"]
    view[stray & ~in_liver] = LABELS["body_fat"]
    return int(np.count_nonzero(stray))
