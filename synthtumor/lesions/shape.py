"""Lesion geometry in its own small box: a perturbed, rotated ellipsoid as a signed distance.

For a voxel at world offset ``x`` (mm) from the centre, with lesion axes ``u = R^T x`` and radii
``r``, the normalised radius is ``rho = |u / r|`` and the voxel lies inside where
``rho <= 1 + f(n)``, ``n = (u / r) / rho`` the direction on the unit sphere and ``f`` a smooth
surface perturbation bounded by ``lobulation + irregularity``:

* lobes: ``lobulation * sum_k w_k exp(kappa (n . d_k - 1)) / max(1, sum_k w_k)``,
  ``K ~ U{2..6}`` directions ``d_k`` uniform on the sphere, ``w_k ~ U(0.3, 1)``,
  ``kappa ~ U(4, 10)``;
* irregularity: ``irregularity * sum_m c_m cos(k_m . n + phi_m)`` with ``|c|_1 = 1``,
  ``M = 6`` waves, ``|k_m| ~ U(1, 3)``, ``phi_m ~ U(0, 2 pi)``.

The signed distance (mm, negative inside) is the first-order estimate
``(rho - 1 - f) / |grad rho|``. Voxel partial volume is tied to spacing: the boundary's
blur sigma along its normal ``nu`` is ``sqrt(sigma_edge^2 + sum_a (nu_a 0.29 s_a)^2)``, the second
term being the standard deviation of a box of width ``s_a`` (the voxel) along axis ``a``.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache

import numpy as np
from scipy.special import ndtr

from synthtumor.lesions.spec import MARGIN_CLIP, MARGIN_OUTWARD, TumorSpec
from synthtumor.lesions.voxel_grid import ball_box, centred_box, voxel_grid, voxel_offsets

__all__ = ["LesionField", "ball_box", "lesion_box", "lesion_field", "single_box", "single_field", "edge_reach_mm",
           "margin_noise", "voxel_offsets", "EDGE_SIGMA_PER_WIDTH", "VOXEL_BOX_STD"]

#: A Gaussian edge's 10-90 % rise width is 2.563 sigma.
EDGE_SIGMA_PER_WIDTH = 1.0 / 2.5631
#: Standard deviation of a unit box (a voxel's partial-volume footprint), 1/sqrt(12).
VOXEL_BOX_STD = 0.2887
#: Alpha below this is treated as zero, which bounds the zone a lesion touches.
ALPHA_FLOOR = 1e-3
_ALPHA_FLOOR_SIGMAS = 3.1  # 0.5 erfc(3.1 / sqrt 2) ~ 1e-3


class LesionField:
    """One lesion sampled on its box of voxels.

    ``signed_mm`` and ``alpha`` are computed up front; the rest, which only some patterns need,
    on first use.

    Attributes:
        box: the voxel slices (X, Y, Z) the lesion may touch.
        signed_mm: signed distance to the surface (mm, negative inside), float32.
        alpha: partial-volume weight in [0, 1] (1 well inside, 0 outside), float32.
        rho_norm: normalised radius ``rho / (1 + f)``: 0 at the centre, 1 on the surface.
        direction: (3, ...) unit direction ``n`` in lesion axes (for angular patterns).
        offset_mm: (3, ...) world offset from the centre (mm).
    """

    def __init__(self, box, signed_mm, alpha, rho, surface, to_q, voxel_offsets, axes_mm) -> None:
        self.box = box
        self.signed_mm = signed_mm
        self.alpha = alpha
        self._rho, self._surface, self._to_q = rho, surface, to_q
        self._voxel_offsets, self._axes_mm = voxel_offsets, axes_mm

    @cached_property
    def rho_norm(self) -> np.ndarray:
        return (self._rho / self._surface).astype(np.float32)

    @cached_property
    def direction(self) -> np.ndarray:
        q = [_combine(self._to_q[a], self._voxel_offsets) for a in range(3)]
        rho = self._rho if self._rho is not None else np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
        safe = np.maximum(rho, np.float32(1e-6))
        return np.stack([qa / safe for qa in q])

    @cached_property
    def offset_mm(self) -> np.ndarray:
        return np.stack([_combine(self._axes_mm[w], self._voxel_offsets) for w in range(3)])


def _combine(weights: np.ndarray, offsets: list[np.ndarray]) -> np.ndarray:
    """``sum_v weights[v] * offsets[v]`` over broadcastable 1-D offsets, as a full float32 box.

    The first two terms meet on a plane, so only the last addition runs over the whole box.
    """
    plane = np.float32(weights[0]) * offsets[0] + np.float32(weights[1]) * offsets[1]
    return plane + np.float32(weights[2]) * offsets[2]


#: Above this ratio of largest to smallest radius the quadratic forms are summed in float64:
#: their terms grow as the ratio squared and cancel (0.17 mm of signed-distance error in float32
#: at 1 x 2 x 45 mm, 6e-4 mm at 2 x 5 x 20 mm).
_FLOAT64_ASPECT = 4.0


def _quadratic(forms: np.ndarray, d: list[np.ndarray], dtype=np.float32) -> np.ndarray:
    """``sum_vw F[v, w] d_v d_w`` for each 3 x 3 form ``F`` in ``forms`` (k, 3, 3), over
    broadcastable 1-D offsets ``d``: an array (k, n0, n1, n2) of ``dtype``.

    Built from two planes and a third, so only two additions run over the whole box (against
    a dozen for forming the three linear combinations and summing their squares), and all
    forms share each numpy call.
    """
    f = np.asarray(forms, dtype=float).reshape(-1, 3, 3)
    f = (f + np.transpose(f, (0, 2, 1))).astype(dtype)  # 2 F_vw off the diagonal, symmetrised
    coeff = f.reshape(-1, 9, 1, 1, 1)
    d0, d1, d2 = (o[None].astype(dtype, copy=False) for o in d)
    half = dtype(0.5)  # the diagonal was doubled too
    xy = (coeff[:, 0] * half * d0 + coeff[:, 1] * d1) * d0 + coeff[:, 4] * half * (d1 * d1)
    xz = (coeff[:, 8] * half * d2 + coeff[:, 2] * d0) * d2
    out = xy + xz
    out += (coeff[:, 5] * d1) * d2
    return out


def lesion_box(
    spec: TumorSpec, affine: np.ndarray, shape: tuple[int, ...], extra_mm: float = 0.0
) -> tuple[slice, slice, slice]:
    """The voxel box holding every voxel the lesion can touch (plus ``extra_mm``); a
    multi-nodular lesion's is the union of its bodies' (:mod:`synthtumor.lesions.multinodular`)."""
    if spec.nodules:
        from synthtumor.lesions.multinodular import union_box

        return union_box(spec, affine, shape, extra_mm)
    return single_box(spec, affine, shape, extra_mm)


def edge_reach_mm(spec: TumorSpec, affine: np.ndarray) -> float:
    """How far (mm) beyond the surface a lesion's alpha stays above the floor: ``3.1 sigma``."""
    return _ALPHA_FLOOR_SIGMAS * float(np.hypot(spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH,
                                                VOXEL_BOX_STD * voxel_grid(affine).spacing_max))


def single_box(
    spec: TumorSpec, affine: np.ndarray, shape: tuple[int, ...], extra_mm: float = 0.0
) -> tuple[slice, slice, slice]:
    """The voxel box of one perturbed ellipsoid (sub-nodules ignored), plus ``extra_mm``.

    Where ``alpha > 0`` the first-order signed distance is below ``3.1 sigma`` (at most
    ``edge_reach``); as ``rho / |grad|`` is at least the smallest radius ``r_min``, such voxels
    have ``rho < 1 + p + edge_reach / r_min`` (``p = lobulation + irregularity``): an ellipsoid
    with radii ``r' = r (1 + p + edge_reach / r_min)``, whose half-width along voxel axis ``v``
    is ``|row_v(A^-1 R diag(r'))|``. That is the box without ``extra_mm``. With ``extra_mm > 0``
    (the mass-effect zone, a ball) the box holds the ball of radius ``max r' + extra_mm``, which
    contains that ellipsoid.
    """
    grid = voxel_grid(affine)
    edge_reach = _ALPHA_FLOOR_SIGMAS * float(np.hypot(spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH,
                                                      VOXEL_BOX_STD * grid.spacing_max))
    radii = spec.radii_mm
    grow = 1.0 + spec.lobulation + spec.irregularity + (edge_reach + MARGIN_OUTWARD * spec.margin_mm) / min(radii)
    o0, o1, o2 = (r * grow for r in radii)  # r'
    if extra_mm > 0.0:
        return ball_box(spec.centre_mm, max(o0, o1, o2) + extra_mm, affine, shape)
    cx, cy, cz = spec.centre_mm
    columns = tuple(zip(*spec.rotation))
    half = []
    for a, b, c, _ in grid.inverse_rows:
        m0, m1, m2 = (a * r0 + b * r1 + c * r2 for r0, r1, r2 in columns)  # row v of A^-1 R
        half.append(math.sqrt((m0 * o0) ** 2 + (m1 * o1) ** 2 + (m2 * o2) ** 2))
    return centred_box(spec.centre_mm, half, grid, shape)


def sequential_sum(values) -> float:
    """Left-to-right float sum: the same bits on every Python (``sum`` compensates since 3.12)."""
    total = 0.0
    for value in values:
        total += value
    return total


@lru_cache(maxsize=256)
def _perturbation_terms(shape_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The surface perturbation's random terms, drawn from ``default_rng(shape_seed)``.

    Returns ``(M, b, c, k)``: ``f(n) = sum_j c_j phi_j(M_j . n + b_j)`` with ``phi = exp`` for
    the ``k`` lobes (``M_j = kappa_j d_j``, ``b_j = -kappa_j``, ``c_j = w_j``; the lobulation
    and its normalisation are applied by the caller) and ``phi = cos`` for the six waves
    (``M_j = k_m``, ``b_j = phi_m``, ``c_j = c_m``). Laws as in the module docstring.
    """
    rng = np.random.Generator(np.random.PCG64(shape_seed))  # default_rng's stream, half its set-up cost
    k = int(rng.integers(2, 7))
    normals = rng.standard_normal(3 * (k + 6) + 6).tolist()  # k lobe, 6 wave directions; 6 coefficients
    u = rng.random(2 * k + 12).tolist()
    weights = [0.3 + 0.7 * w for w in u[:k]]  # U(0.3, 1)
    kappas = [4.0 + 6.0 * w for w in u[k:2 * k]]  # U(4, 10)
    lengths = kappas + [1.0 + 2.0 * w for w in u[2 * k:2 * k + 6]]  # |k_m| ~ U(1, 3)
    biases = [-kappa for kappa in kappas] + [2.0 * math.pi * w for w in u[2 * k + 6:]]  # phi_m ~ U(0, 2 pi)
    coeffs = normals[-6:]
    lobe_total = max(1.0, sequential_sum(weights))
    wave_total = sequential_sum([abs(c) for c in coeffs])
    terms = [w / lobe_total for w in weights] + [c / wave_total for c in coeffs]
    rows = []  # per term: M_j (3), b_j, c_j
    for j in range(k + 6):
        x, y, z = normals[3 * j:3 * j + 3]
        scale = lengths[j] / math.sqrt(x * x + y * y + z * z)
        rows.append((x * scale, y * scale, z * scale, biases[j], terms[j]))
    table = np.array(rows, dtype=np.float32)
    terms = np.ascontiguousarray(table[:, 4])
    for array in (table, terms):  # shared through the cache: frozen before any view is taken
        array.setflags(write=False)
    arrays = (table[:, :3], table[:, 3:4], terms)
    return (*arrays, k)


def _perturbation_at(spec: TumorSpec, n: np.ndarray) -> np.ndarray:
    """The surface perturbation f at unit directions ``n`` (3, ...) in lesion axes."""
    matrix, bias, terms, k = _perturbation_terms(spec.shape_seed)
    scale = np.array([spec.lobulation] * k + [spec.irregularity] * 6, dtype=np.float32) * terms
    if spec.lobulation == 0:
        matrix, bias, scale = matrix[k:], bias[k:], scale[k:]
        k = 0
    elif spec.irregularity == 0:
        matrix, bias, scale = matrix[:k], bias[:k], scale[:k]
    arg = matrix @ n.reshape(3, -1).astype(np.float32)
    arg += bias
    np.exp(arg[:k], out=arg[:k])
    np.cos(arg[k:], out=arg[k:])
    return (scale @ arg).reshape(n.shape[1:])


#: The perturbation is evaluated on a grid of at most about this many points across (a step of
#: at least 2 voxels once the box is 12 voxels across), then interpolated.
_COARSE_POINTS = 8


def _perturbation(spec: TumorSpec, to_q: np.ndarray, d: list[np.ndarray]) -> np.ndarray:
    """f(n) on the box: exact along axes under 12 voxels, else on a coarse sub-grid, interpolated.

    ``q_a = sum_v to_q[a, v] d_v`` are the normalised lesion coordinates and ``n = q / |q|``.
    Evaluating the lobes and waves costs a dozen transcendental functions per voxel; f varies
    slowly with position away from the centre (where it does not matter), so a sub-grid of
    about 8 points across (per axis) and linear interpolation keep the surface smooth for a
    fraction of the cost.
    """
    shape = tuple(o.size for o in d)
    if spec.lobulation == 0 and spec.irregularity == 0:
        return np.zeros((1, 1, 1), dtype=np.float32)
    # per axis: exact below 12 voxels, else about _COARSE_POINTS points across
    steps = [max(1, -(-n // _COARSE_POINTS)) if n >= 12 else 1 for n in shape]
    coarse = [o[::steps[0], ::steps[1], ::steps[2]] for o in d]
    coords = np.empty((3, coarse[0].size, coarse[1].size, coarse[2].size), dtype=np.float32)
    for axis in range(3):  # the coarse points' voxel offsets, broadcast
        coords[axis] = coarse[axis]
    q = (to_q.astype(np.float32) @ coords.reshape(3, -1)).reshape(coords.shape)
    norm = np.sqrt(np.einsum("a...,a...->...", q, q))
    q /= np.maximum(norm, np.float32(1e-6), out=norm)
    values = _perturbation_at(spec, q)
    # separable linear interpolation, one matrix product per axis: fine index j sits at coarse
    # coordinate j / step; the last (full-size) product runs along axis 0
    if steps[2] > 1:
        c0, c1, c2 = values.shape
        values = (values.reshape(-1, c2) @ _interpolation_matrix(shape[2], steps[2], c2).T).reshape(c0, c1, shape[2])
    if steps[1] > 1:
        values = np.matmul(_interpolation_matrix(shape[1], steps[1], values.shape[1]), values)
    if steps[0] > 1:
        c0, n1, n2 = values.shape
        values = (_interpolation_matrix(shape[0], steps[0], c0) @ values.reshape(c0, -1)).reshape(shape[0], n1, n2)
    return np.ascontiguousarray(values, dtype=np.float32)


@lru_cache(maxsize=512)
def _interpolation_matrix(size: int, step: int, coarse: int) -> np.ndarray:
    """(size, coarse) float32 linear-interpolation weights: fine index ``j`` at ``j / step`` (cached)."""
    pos = np.arange(size) / step
    lo = np.minimum(pos.astype(np.intp), coarse - 1)
    hi = np.minimum(lo + 1, coarse - 1)
    weight = pos - lo
    matrix = np.zeros((size, coarse))
    rows = np.arange(size)
    matrix[rows, lo] = 1.0 - weight
    matrix[rows, hi] += weight  # one (row, column) pair per row: no repeated index
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def lesion_field(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, slice, slice]) -> LesionField:
    """The lesion's signed distance and alpha on ``box``: :func:`single_field`, or for a
    multi-nodular lesion the union of its bodies' fields (signed distance min, alpha max)."""
    if spec.nodules:
        from synthtumor.lesions.multinodular import union_field

        return union_field(spec, affine, box)
    return single_field(spec, affine, box)


def margin_noise(spec: TumorSpec, shape: tuple[int, ...], spacing: np.ndarray) -> np.ndarray:
    """The infiltrative margin's outward displacement (mm) on a box (see TumorSpec.margin_mm)."""
    from synthtumor.lesions.texture import band_limited_noise  # texture imports this module

    noise = band_limited_noise(shape, spec.margin_scale_mm / spacing, np.random.default_rng([spec.shape_seed, 17]))
    np.clip(noise, -MARGIN_CLIP, MARGIN_OUTWARD, out=noise)
    noise *= np.float32(spec.margin_mm)
    return noise


def single_field(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, slice, slice],
                 margin: np.ndarray | None = None) -> LesionField:
    """Sample one perturbed ellipsoid's signed distance and partial-volume alpha on ``box``.

    ``rho^2``, ``|grad|^2`` and the partial-volume term are quadratic forms in the voxel
    offsets, each built by broadcasting per-axis offsets (no meshgrid, no per-voxel
    coordinates). With isotropic spacing and orthogonal axes the partial-volume term is the
    same for every boundary normal, so ``sigma`` is a scalar there. The ratio ``rho / |grad|``
    is evaluated as ``sqrt((rho^2 + e r_min^2) / (|grad|^2 + e))``, ``e = 1e-12``: its value
    everywhere but at the centre itself, where it takes ``r_min``, its smallest limit.
    """
    d = voxel_offsets(spec.centre_mm, affine, box)
    a3 = affine[:3, :3]
    rot = np.asarray(spec.rotation, dtype=float)
    radii = np.asarray(spec.radii_mm, dtype=float)
    to_q = (rot.T @ a3) / radii[:, None]  # q_a = u_a / r_a, u = R^T x the lesion-axis coordinates
    to_g = to_q / radii[:, None]  # g = q / r: rho grad(rho) in lesion axes
    grid = voxel_grid(affine)
    box_var = (VOXEL_BOX_STD * grid.spacing) ** 2
    edge_var = (spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH) ** 2
    exact_pv = not (grid.isotropic and grid.orthogonal)
    forms = [to_q.T @ to_q, to_g.T @ to_g]
    if exact_pv:
        # a boundary normal's component along voxel axis v is (W d)_v / |grad|, W below; the
        # partial-volume variance sum_v box_var[v] (W d)_v^2 / |grad|^2 is a quadratic form too
        along = grid.axes.T @ rot @ to_g
        forms.append(along.T @ (box_var[:, None] * along))
    elongated = radii.max() > _FLOAT64_ASPECT * radii.min()
    quadratics = _quadratic(np.stack(forms), d, np.float64 if elongated else np.float32)
    if elongated:
        quadratics = quadratics.astype(np.float32)
    rho2, g2 = quadratics[0], quadratics[1]
    rho = np.sqrt(rho2)
    eps = np.float32(1e-12)
    ratio = rho2 + eps * np.float32(radii.min() ** 2)  # rho / |grad| (mm)
    g2 += eps
    ratio /= g2
    np.sqrt(ratio, out=ratio)
    surface = _perturbation(spec, to_q, d)
    surface += np.float32(1.0)
    signed = rho - surface
    signed *= ratio
    if spec.margin_mm > 0:  # noise > 0 pushes the surface outward
        signed -= margin if margin is not None else margin_noise(spec, signed.shape, grid.spacing)
    if not exact_pv:  # isotropic, orthogonal: the normal's squared components sum to 1, pv is a constant
        t = signed * np.float32(1.0 / np.sqrt(edge_var + box_var[0]))
    else:
        pv = quadratics[2]
        pv /= g2
        pv += np.float32(edge_var)
        np.sqrt(pv, out=pv)
        t = signed / pv
    # alpha = P(Z > t), computed only in the shell -4.8 < t < 3.1: beyond it alpha is 0 (below
    # the floor) or 1 (to within 1e-6)
    alpha = (t < 0).astype(np.float32)
    centred = t + np.float32(0.85)
    shell = np.flatnonzero(np.abs(centred, out=centred) < np.float32(_ALPHA_FLOOR_SIGMAS + 0.85))
    tail = ndtr(-t.ravel()[shell])  # P(Z > t)
    tail[tail < ALPHA_FLOOR] = 0.0
    alpha.ravel()[shell] = tail
    return LesionField(box, signed, alpha, rho, surface, to_q, d, a3.copy())
