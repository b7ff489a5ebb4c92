"""``DiffusionGenerator``: heuristic placement and shape, a learned denoiser for the inside.

``sample`` is the heuristic generator's (same placement and shape laws: vessel clearance,
boundary margin, gaps, mass effect). ``render_result``:

1. draws the specs with :func:`~synthtumor.lesions.render.render_lesions` and a flat, zero
   appearance (contrast, texture, rim and calcifications 0): this applies each lesion's mass
   effect and gives the tumour label exactly as the heuristic renderer does, and leaves the
   image otherwise untouched;
2. per lesion, cuts a cube of ``data.cube_voxels`` around the spec centre from that image at
   the spacing training used (``cube_spacing_mm`` of the lesion's extent), scaled to [-1, 1]
   through the HU window, with the mask ``signed distance <= data.margin_mm``;
3. fills the masks by DDIM inpainting (:func:`~synthtumor.generators.diffusion.sample.inpaint`),
   batched over lesions, each seeded with its spec's ``texture_seed``; in latent mode on the
   autoencoder's latent grid, decoded, with the known voxels put back exactly
   (:func:`~synthtumor.generators.diffusion.latent.inpaint_latent`);
4. writes back only inside each lesion's box: the generated change
   ``delta = hu(generated) - hu(known)`` (exactly 0 outside the mask) is resampled
   trilinearly to the scan grid, and ``image <- image + alpha (generated - image)`` with
   ``generated = image + delta``, i.e. ``image + alpha delta``, ``alpha`` the lesion's soft
   partial-volume edge, 0 outside the organ, on vessels, on other tumours and on ``avoid``.
   Adding the change (rather than the resampled cube) keeps the scan's own fine noise.

Voxels outside every lesion's zone are bit-identical to the input. Weights load lazily on the
first render and are dropped when pickled, so the generator travels cheaply to worker
processes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from synthtumor.anatomy import Prepared
from synthtumor.case import Case
from synthtumor.errors import CaseFileError
from synthtumor.generators.base import LesionGenerator
from synthtumor.generators.diffusion.checkpoint import (
    checkpoint_state,
    latest_checkpoint,
    load_checkpoint_file,
    load_weights,
    read_run_config,
)
from synthtumor.generators.diffusion.data import (
    cube_affine,
    cube_spacing_mm,
    hu_to_unit,
    resample_grid,
    resample_to_cube,
    unit_to_hu,
)
from synthtumor.generators.diffusion.latent import LatentCodec, build_autoencoder, inpaint_latent
from synthtumor.generators.diffusion.model import (
    attenuation_of,
    build_unet,
    class_index,
    sampling_scheduler,
    size_class_of,
)
from synthtumor.generators.diffusion.sample import inpaint
from synthtumor.generators.heuristic import HeuristicGenerator
from synthtumor.lesions.render import RenderResult, changeable_voxels, render_lesions
from synthtumor.lesions.shape import lesion_box, lesion_field
from synthtumor.lesions.spec import SIZE_CLASSES, IntensitySpec, TumorSpec

__all__ = ["DiffusionGenerator"]

#: A look that changes nothing: render_lesions then only moves tissue and marks the tumour.
_FLAT = IntensitySpec(pattern="homogeneous", contrast_hu=0.0, texture_hu=0.0, calcifications=0)


class DiffusionGenerator(LesionGenerator):
    """Lesions placed and shaped like the heuristic generator's, filled by a trained denoiser.

    Args:
        run_dir: a run folder written by ``train-diffusion`` (its last checkpoint is used).
        placement: the heuristic generator whose ``sample`` draws the specs.
        steps: DDIM steps (default: the run's ``sample.ddim_steps``).
        device: where to run the network (default: a CUDA GPU when torch sees one, else the CPU).
        use_ema: sample with the EMA weights (default) rather than the raw ones.
        threads: torch CPU threads to use once the network loads (None: torch's default); 1 in
            each of several worker processes avoids oversubscribing the cores.

    Raises:
        CaseFileError: ``run_dir`` is not a run or holds no checkpoint (or, in latent mode, only
            autoencoder-stage ones).
        ConfigError: ``steps`` is out of range.
    """

    name = "diffusion"

    def __init__(self, run_dir: str | os.PathLike, placement: HeuristicGenerator, *, steps: int | None = None,
                 device: str | torch.device | None = None, use_ema: bool = True, threads: int | None = None) -> None:
        super().__init__(block_mm=placement.block_mm)
        self.run_dir = Path(run_dir)
        self.config, self.data_summary = read_run_config(self.run_dir)
        folder = latest_checkpoint(self.run_dir)
        if folder is None:
            raise CaseFileError(f"{self.run_dir} holds no complete checkpoint.",
                                fix="finish training (train-diffusion --resume) before generating.")
        if checkpoint_state(folder)["stage"] != "denoiser":
            raise CaseFileError(f"{self.run_dir} has finished only the autoencoder stage of latent mode; "
                                "there is no denoiser to sample with yet.",
                                fix="continue training (train-diffusion --resume) before generating.")
        self.placement = placement
        self.steps = int(steps) if steps is not None else self.config.sample.ddim_steps
        sampling_scheduler(self.config, self.steps)  # validate the step count now
        self.device = None if device is None else str(device)
        self.use_ema = use_ema
        self.threads = threads
        self._model: torch.nn.Module | None = None
        self._codec: LatentCodec | None = None
        self.checkpoint_step: int | None = None

    @classmethod
    def from_checkpoint(cls, run_dir: str | os.PathLike, preset_for_placement: str = "liver_metastasis",
                        steps: int | None = None, **kwargs) -> DiffusionGenerator:
        """A generator from a run folder, placing lesions with a heuristic preset."""
        return cls(run_dir, HeuristicGenerator.from_preset(preset_for_placement), steps=steps, **kwargs)

    # -- pickling: weights stay behind and load again on first use --------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_codec"] = None
        return state

    def _network(self) -> tuple[torch.nn.Module, torch.device]:
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self._model is None:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            weights, self.checkpoint_step = load_weights(self.run_dir, ema=self.use_ema)
            model = build_unet(self.config)
            model.load_state_dict(weights)
            if self.config.mode == "latent":
                folder = latest_checkpoint(self.run_dir)
                autoencoder = build_autoencoder(self.config)
                autoencoder.load_state_dict(load_checkpoint_file(folder, "autoencoder"))
                self._codec = LatentCodec.frozen(autoencoder.to(device), checkpoint_state(folder)["scale_factor"],
                                                 self.config)
            self._model = model.eval().to(device)
        return self._model, device

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, case: Case) -> Prepared:
        """The heuristic generator's preparation."""
        return self.placement.prepare(case)

    def sample(self, prepared: Prepared, rng: np.random.Generator) -> list[TumorSpec]:
        """The heuristic generator's specs (same placement and shape laws, same draws)."""
        return self.placement.sample(prepared, rng)

    def _label(self, spec: TumorSpec, phase: str) -> int:
        size = spec.size_class if spec.size_class in SIZE_CLASSES else size_class_of(spec.equivalent_radius_mm)
        return class_index(self.config.model.conditioning, size_class=size,
                           attenuation=attenuation_of(spec.intensity.contrast_hu), phase=phase)

    def denoise(self, known: np.ndarray, masks: np.ndarray, seeds: list[int], labels: list[int]) -> np.ndarray:
        """Inpaint cubes in batches of ``sample.batch_size``.

        Args:
            known: (L, n, n, n) cubes in [-1, 1].
            masks: (L, n, n, n) bool, True where to generate.
            seeds: one seed per cube.
            labels: one class label per cube (ignored without conditioning).

        Returns:
            (L, n, n, n) float32: the samples inside the masks, ``known`` exactly outside.
        """
        model, device = self._network()
        scheduler = sampling_scheduler(self.config, self.steps)
        sc = self.config.sample
        out = []
        for lo in range(0, len(known), sc.batch_size):
            sl = slice(lo, lo + sc.batch_size)
            lab = (torch.as_tensor(labels[sl], dtype=torch.long, device=device)
                   if self.config.model.conditioning else None)
            cubes = torch.from_numpy(known[sl][:, None]).to(device)
            mask = torch.from_numpy(masks[sl][:, None]).to(device)
            if self._codec is not None:
                x = inpaint_latent(model, self._codec, scheduler, cubes, mask, seeds=list(seeds[sl]), labels=lab,
                                   eta=sc.eta, resample=sc.resample)
            else:
                x = inpaint(model, scheduler, cubes, mask, seeds=list(seeds[sl]), labels=lab, eta=sc.eta,
                            resample=sc.resample)
            out.append(x[:, 0].float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def render_result(self, prepared: Prepared, specs: list[TumorSpec], *, inplace: bool = False) -> RenderResult:
        """Draw ``specs`` with the denoiser (pure unless ``inplace``; see module docstring)."""
        result = render_lesions(prepared, [dataclasses.replace(s, intensity=_FLAT) for s in specs], inplace=inplace)
        if not specs:
            return result
        out, data = result.case, self.config.data
        n, window = data.cube_voxels, data.hu_window
        image = out.image
        cubes = [cube_affine(s.centre_mm, cube_spacing_mm(s.max_extent_mm, data), n) for s in specs]
        known = np.stack([hu_to_unit(resample_to_cube(image, out.affine, c, n), window) for c in cubes])
        whole = (slice(0, n),) * 3
        masks = np.stack([lesion_field(s, c, whole).signed_mm <= data.margin_mm for s, c in zip(specs, cubes)])
        generated = self.denoise(known, masks, [s.texture_seed for s in specs],
                                 [self._label(s, out.phase.value) for s in specs])
        occupied = prepared.occupied
        for spec, cube, gen, ref in zip(specs, cubes, generated, known):
            change = unit_to_hu(gen, window) - unit_to_hu(ref, window)  # exactly 0 outside the mask
            if not change.any():
                continue
            box = lesion_box(spec, out.affine, out.shape)
            field = lesion_field(spec, out.affine, box)
            # the lesion's own voxels (inside its surface) were drawn by render_lesions above
            allowed = changeable_voxels(out.organ[box], out.tumor[box] & (field.signed_mm > 0),
                                        out.vessels[box] if out.vessels is not None else None,
                                        occupied[box] if occupied is not None else None)
            alpha = np.where(allowed, field.alpha, np.float32(0.0))
            box_affine = out.affine.copy()
            box_affine[:3, 3] = out.affine[:3, :3] @ [s.start for s in box] + out.affine[:3, 3]
            shape = tuple(s.stop - s.start for s in box)
            delta = resample_grid(change, cube, box_affine, shape, mode="constant")
            image[box] += alpha * delta.astype(np.float32)
        return result
