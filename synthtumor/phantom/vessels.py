"""Branching vessel trees of the liver: the portal venous tree and the hepatic veins.

Trees grow from their main branches by recursive bifurcation, all trees together generation by
generation. Every branch owns a territory (a set of points sampling the liver) that it supplies
or drains; at each bifurcation the territory is cut in two across its longest axis, in
proportion to the children's flow ``r^3``, and each child heads for its own part:

* a branch of radius ``r`` runs ``L = clip(U(0.5, 0.8) D, 4 r, 12 r)`` mm (at least 8 mm),
  ``D`` the distance to its territory's centroid, in sub-steps of at most ``min(6, 2 r)`` mm,
  tapering to ``r_end = r U(0.9, 0.97)``; each sub-step turns towards that centroid, towards
  the liver interior (depth gradient) the closer it gets to the surface, away from nearby
  vessels, plus a small random turn (``N(0, 0.12^2)`` per component);
* a branch stops at the liver surface (its centre must stay ``>= 0.5 r`` mm deep) and before
  coming within ``r + r_other + gap + 0.3 r`` of a vessel of another tree (``r + r_other`` of
  its own tree or of the vein it drains into);
* at its end it splits by Murray's law ``r^3 = r1^3 + r2^3``, the larger child taking a share
  ``f ~ U(0.5, 0.85)`` of ``r^3`` (and of the territory); the smaller child leaves the parent's
  axis at ``theta ~ U(25, 50)`` deg, the larger at ``theta (r2 / r1)^2``, each bent towards its
  territory;
* after the configured number of generations, or once ``r_end < 1.5`` mm, a branch does not
  split but runs on (``L = clip(U(0.8, 1.2) D, 4 r, 25 r)``) towards the far half of its
  territory, so thin vessels reach the periphery.

Trees are grown on world coordinates and only rasterised at the end (see ``tubes``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from synthtumor.phantom.liver import DepthMap
from synthtumor.phantom.tubes import Tubes

__all__ = ["PointCloud", "Root", "TreeParams", "grow_trees"]


class PointCloud:
    """Points sampled along grown vessels (and fixed obstacles), with radius and tree id."""

    def __init__(self) -> None:
        self._pts = np.zeros((1024, 3))
        self._rad = np.zeros(1024)
        self._tree = np.zeros(1024, dtype=np.int64)
        self.n = 0

    def add_tubes(self, tubes: Tubes, tree: int, step_mm: float = 1.5) -> None:
        """Sample ``tubes`` every ``step_mm`` (at most) and add the samples."""
        for a, b, ra, rb in zip(tubes.p0, tubes.p1, tubes.r0, tubes.r1):
            k = max(1, int(np.ceil(np.linalg.norm(b - a) / step_mm)))
            t = np.linspace(0.0, 1.0, k + 1)[:, None]
            self.add(a + t * (b - a), ra + t[:, 0] * (rb - ra), tree)

    def add(self, points: np.ndarray, radii: np.ndarray, tree: int) -> None:
        """Add points (n, 3) mm with radii (n,) mm belonging to ``tree``."""
        m = len(points)
        while self.n + m > len(self._rad):
            self._pts = np.concatenate([self._pts, np.zeros_like(self._pts)])
            self._rad = np.concatenate([self._rad, np.zeros_like(self._rad)])
            self._tree = np.concatenate([self._tree, np.zeros_like(self._tree)])
        self._pts[self.n:self.n + m] = points
        self._rad[self.n:self.n + m] = radii
        self._tree[self.n:self.n + m] = tree
        self.n += m

    def near(self, centre: np.ndarray, radius: float) -> PointCloud:
        """A copy holding only the points within ``radius`` mm (box test) of ``centre``."""
        sel = np.all(np.abs(self._pts[:self.n] - centre) <= radius, axis=1)
        out = PointCloud.__new__(PointCloud)
        out._pts = self._pts[:self.n][sel]
        out._rad = self._rad[:self.n][sel]
        out._tree = self._tree[:self.n][sel]
        out.n = int(sel.sum())
        return out

    def ignore_near(self, tree: int, centre: np.ndarray, radius: float) -> None:
        """Forget the points of ``tree`` within ``radius`` mm of ``centre``."""
        keep = (self._tree[:self.n] != tree) | (
            np.linalg.norm(self._pts[:self.n] - centre, axis=1) > radius)
        m = int(keep.sum())
        self._pts[:m], self._rad[:m], self._tree[:m] = (
            self._pts[:self.n][keep], self._rad[:self.n][keep], self._tree[:self.n][keep])
        self.n = m

    def query(self, p: np.ndarray, tree: int, ignore_centre: np.ndarray, ignore_radius: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offsets ``p - q``, surface distances ``|p - q| - r_q`` and tree ids of every point,
        leaving out points of the same tree within ``ignore_radius`` of ``ignore_centre`` (the
        junction the current branch grows from)."""
        pts, rad, ids = self._pts[:self.n], self._rad[:self.n], self._tree[:self.n]
        keep = (ids != tree) | (np.linalg.norm(pts - ignore_centre, axis=1) > ignore_radius)
        off = p - pts[keep]
        return off, np.linalg.norm(off, axis=1) - rad[keep], ids[keep]


@dataclass(frozen=True)
class TreeParams:
    """Growth settings of one tree.

    Attributes:
        generations: bifurcation generations after the main branches.
        min_radius_mm: a branch ending thinner than this does not split.
        raster_radius_mm: smallest rasterised radius (mm), used for clearances.
        gap_mm: extra clearance (mm) kept from other vessels.
    """

    generations: int = 4
    min_radius_mm: float = 1.5
    raster_radius_mm: float = 1.0
    gap_mm: float = 1.5


def _perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


@dataclass
class Root:
    """A main branch: where it starts, where it heads, how thick it is, what it supplies.

    Attributes:
        start: start point (mm).
        direction: initial direction.
        radius: radius at the start (mm).
        territory: indices (into the tree's territory points) of the liver it supplies/drains.
        free_mm: length it may run outside the liver first (a trunk joining the IVC).
    """

    start: np.ndarray
    direction: np.ndarray
    radius: float
    territory: np.ndarray
    free_mm: float = 0.0


def grow_trees(trees: dict[int, list[Root]], points: np.ndarray, depth: DepthMap,
               cloud: PointCloud, rng: np.random.Generator, params: TreeParams,
               friends: dict[int, set[int]] | None = None) -> dict[int, Tubes]:
    """Grow vessel trees inside the liver together, generation by generation, so that no tree
    takes all the room before the others have their main branches.

    Args:
        trees: tree id -> its main branches.
        points: world points (n, 3) mm sampling the liver; territories index them.
        depth: depth below the liver surface.
        cloud: vessels and obstacles so far (ids of their own); the new trees are added to it.
        rng: random generator (see the module docstring for every law).
        params: growth settings.
        friends: tree id -> ids (e.g. the vein it drains into) a branch need not keep the extra
            gap from, only not overlap.

    Returns:
        tree id -> its segments.
    """
    friends = friends or {}
    queue = deque((tree, np.asarray(r.start, float), _unit(np.asarray(r.direction, float)),
                   float(r.radius), 0, float(r.free_mm), np.asarray(r.territory), None)
                  for tree, roots in trees.items() for r in roots)
    segments: dict[int, list[Tubes]] = {tree: [] for tree in trees}
    while queue:
        tree, start, direction, radius, gen, free_mm, territory, target = queue.popleft()
        leaf = target is not None
        close = np.array(sorted({tree} | friends.get(tree, set())))
        if target is None:
            target = points[territory].mean(axis=0) if len(territory) else start + 20.0 * direction
        reach = float(np.linalg.norm(target - start))
        if leaf:
            length = float(np.clip(rng.uniform(0.8, 1.2) * reach, 4.0 * radius, 25.0 * radius))
        else:
            length = float(np.clip(rng.uniform(0.5, 0.8) * reach, 4.0 * radius, 12.0 * radius))
        length = max(length, 8.0)
        r_end = radius * rng.uniform(0.9, 0.97)
        n_sub = max(2, int(np.ceil(length / min(6.0, 2.0 * radius))))
        step = length / n_sub
        pts, radii = [start], [radius]
        d, p = direction, start
        local = cloud.near(start, length + 2.0 * radius + 30.0)  # all a sub-step can meet
        blocked = False
        for k in range(1, n_sub + 1):
            rk = radius + (r_end - radius) * k / n_sub
            d = _steer(p, d, target, rk, tree, start, radius, depth, local, rng)
            q = p + step * d
            r_clear = max(rk, params.raster_radius_mm)
            _, dist, ids = local.query(q, tree, start, 3.0 * radius + 4.0)
            need = np.where(np.isin(ids, close), r_clear, r_clear + params.gap_mm + 0.3 * rk)
            shallow = k * step > free_mm and float(depth.at(q[None])[0]) < max(0.5 * rk, 0.7)
            if shallow or bool(np.any(dist < need)):
                blocked = True
                break
            pts.append(q)
            radii.append(rk)
            p = q
        if len(pts) < 2:
            continue
        tubes = Tubes.polyline(np.array(pts), np.array(radii))
        segments[tree].append(tubes)
        cloud.add_tubes(tubes, tree)
        r_tip = radii[-1]
        if blocked or leaf:
            continue
        if gen >= params.generations or r_tip < params.min_radius_mm or len(territory) < 8:
            # a terminal branch runs on, unsplit, towards the far part of its territory
            if not len(territory):
                continue
            far = points[territory]
            far = far[np.argsort(np.linalg.norm(far - p, axis=1))[len(far) // 2:]]
            queue.append((tree, p, d, r_tip, gen + 1, 0.0, territory, far.mean(axis=0)))
            continue
        for child_dir, child_r, child_territory in _split(p, d, r_tip, points, territory, rng):
            queue.append((tree, p, child_dir, child_r, gen + 1, 0.0, child_territory, None))
    return {tree: Tubes.concat(parts) for tree, parts in segments.items()}


def _steer(p: np.ndarray, d: np.ndarray, target: np.ndarray, r: float, tree: int, start: np.ndarray,
           r_start: float, depth: DepthMap, cloud: PointCloud, rng: np.random.Generator) -> np.ndarray:
    here = float(depth.at(p[None])[0])
    grad = _unit(depth.gradient_at(p[None])[0])
    reach = 2.0 * r + 8.0
    w_in = np.clip((reach - here) / reach, 0.0, 1.0)
    push = np.zeros(3)
    off, dist, _ = cloud.query(p, tree, start, 3.0 * r_start + 4.0)
    near = dist < 10.0 + r
    if near.any():
        o = off[near]
        w = (1.0 - dist[near] / (10.0 + r))[:, None]
        push = (w * o / np.maximum(np.linalg.norm(o, axis=1, keepdims=True), 1e-6)).sum(axis=0)
        push = 0.5 * _unit(push)
    aim = 0.3 * _unit(target - p)
    return _unit(d + aim + 0.9 * w_in * grad + push + rng.normal(0.0, 0.12, 3))


def _rotate_to_angle(d: np.ndarray, child: np.ndarray, angle: float) -> np.ndarray:
    """Direction at ``angle`` (rad) from ``d`` in the plane of ``d`` and ``child``."""
    side = child - (child @ d) * d
    if np.linalg.norm(side) < 1e-6:
        side = _perpendicular_basis(d)[0]
    side = _unit(side)
    return np.cos(angle) * d + np.sin(angle) * side


def _split(p: np.ndarray, d: np.ndarray, r: float, points: np.ndarray, territory: np.ndarray,
           rng: np.random.Generator) -> list[tuple[np.ndarray, float, np.ndarray]]:
    share = rng.uniform(0.5, 0.85)
    r_big, r_small = r * share ** (1 / 3), r * (1 - share) ** (1 / 3)
    theta_small = np.radians(rng.uniform(25.0, 50.0))
    theta_big = theta_small * (r_small / r_big) ** 2
    sub = points[territory]
    centre = sub.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((sub - centre).T) + 1e-6 * np.eye(3))
    order = np.argsort((sub - centre) @ vecs[:, -1])
    k = int(np.clip(round(share * len(order)), 1, len(order) - 1))
    parts = [(territory[order[:k]], territory[order[k:]]), (territory[order[-k:]], territory[order[:-k]])]
    best, best_score = None, -np.inf
    for big, small in parts:  # the big child continues straighter
        score = float(_unit(points[big].mean(axis=0) - p) @ d)
        if score > best_score:
            best, best_score = (big, small), score
    big, small = best
    d_big = _unit(points[big].mean(axis=0) - p)
    d_small = _unit(points[small].mean(axis=0) - p)
    # bend each child to its branching angle, in the plane towards its territory
    d_big = _rotate_to_angle(d, d_big, theta_big)
    d_small = _rotate_to_angle(d, d_small, theta_small)
    return [(d_big, r_big, big), (d_small, r_small, small)]
