"""Study configuration (``configs/study/*.yaml``): arms, scarcity axis, seeds, data.

Arms (the name in the results says what it is):

* ``real``: the ``n_real`` real annotated training scans;
* ``synthetic-<generator>``: the healthy scans with on-the-fly synthetic lesions only
  (``n_real`` = 0);
* ``mixed-<generator>-<ratio>``: the ``n_real`` real scans, with synthetic lesions added to a
  fraction ``ratio`` of the training samples (real tumours kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from synthtumor.calibration_defaults import CALIBRATION_ROUNDS
from synthtumor.config_paths import config_dir, read_yaml_mapping
from synthtumor.config_rules import ConfigError, bounded, built, check_fields

__all__ = ["ArmSpec", "StudyConfig", "ARM_KINDS"]

ARM_KINDS = ("real", "synthetic", "mixed")


@dataclass(frozen=True)
class ArmSpec:
    """One arm: its kind, and for synthetic / mixed arms the generator preset and ratio.

    ``fitted: true`` (synthetic and mixed arms): the preset is fitted (``synthtumor fit-preset``,
    ``fit_rounds`` calibration rounds, ``preset`` as the base) on the annotated lesions of the
    run's own real training scans, never a test scan; a synthetic-fitted arm therefore runs at
    every scarcity level. Where those scans hold fewer than 5 lesions, the run uses the base
    preset and the report says so.
    """

    kind: str = bounded(kind="choice", options=ARM_KINDS)
    preset: str = "liver_metastasis"
    generator: str = bounded("heuristic", kind="choice", options=("heuristic",))  # the only one available yet
    ratio: float = bounded(0.5, 0, 1, low_open=True)
    fitted: bool = bounded(False, kind="bool")
    fit_rounds: int = bounded(CALIBRATION_ROUNDS, 0, None, "int")

    def __post_init__(self) -> None:
        """Every value is checked here, however the arm is built (:func:`bounded` fields)."""
        check_fields(self, "study.arm")
        if self.fitted and self.kind == "real":
            raise ConfigError("a real arm draws no lesions; only synthetic and mixed arms can be fitted.")

    @property
    def name(self) -> str:
        """``real``, ``synthetic-heuristic``, ``mixed-heuristic-0.5``, or with a preset fitted on the
        run's own annotated training scans ``synthetic-fitted``, ``mixed-fitted-0.5``."""
        if self.kind == "real":
            return "real"
        source = "fitted" if self.fitted else self.generator
        if self.kind == "synthetic":
            return f"synthetic-{source}"
        return f"mixed-{source}-{self.ratio:g}"


@dataclass(frozen=True)
class StudyConfig:
    """A data-scarcity study.

    Attributes:
        name: study name.
        train: training config preset or YAML path (configs/train/).
        train_overrides: values replacing the training config's.
        annotated: dataset with real tumours (None: a phantom cohort with reference lesions).
        healthy: healthy scans for synthetic arms (None: phantoms without lesions).
        label_map: label map of the datasets.
        phase: contrast phase of the scans.
        n_test: annotated scans held out for testing (patient-level, fixed once).
        scarcity: numbers of real annotated training scans.
        seeds: repeats; each seed draws its own training subsets and trains its own models.
        arms: the arms.
        phantom: phantom cohort sizes and settings when data are not given
            (``n_annotated``, ``n_healthy``, ``lesions``, ``spacing``, ``seed``).
        nsd_tolerance_mm: NSD tolerance (mm).
    """

    name: str = "study"
    train: str = "tiny_cpu"
    train_overrides: dict[str, Any] = field(default_factory=dict)
    annotated: str | None = None
    healthy: str | None = None
    label_map: str | None = None
    phase: str = "portal"
    n_test: int = bounded(2, 1, None, "int")
    scarcity: tuple[int, ...] = bounded((1, 2), 1, None, "ints")
    seeds: tuple[int, ...] = bounded((0,), 0, None, "ints")
    arms: tuple[ArmSpec, ...] = (ArmSpec("real"),)
    phantom: dict[str, Any] = field(default_factory=dict)
    nsd_tolerance_mm: float = bounded(2.0, 0, None, low_open=True)

    def __post_init__(self) -> None:
        """Every value is checked here, however the study is built (:func:`bounded` fields)."""
        check_fields(self, "study")
        if not all(isinstance(a, ArmSpec) for a in self.arms):
            raise ConfigError(f"study.arms must be ArmSpec objects, got {list(self.arms)!r}.")
        names = [a.name for a in self.arms]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"study.arms must be non-empty and distinct, got {names}.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        """Validate a mapping (the YAML's content)."""
        known = set(cls.__dataclass_fields__) | {"description"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"study config: unknown keys {unknown}.", fix=f"use {sorted(known)}.")
        kw = {k: v for k, v in data.items() if k != "description"}
        arms = []
        listed = kw.pop("arms", [{"kind": "real"}])
        if not isinstance(listed, (list, tuple)):
            raise ConfigError(f"study.arms must be a list of arms, got {listed!r}.")
        for i, arm in enumerate(listed):
            if not isinstance(arm, Mapping):
                raise ConfigError(f"study arm {arm!r} must be a mapping with a 'kind'.")
            try:
                arms.append(built(ArmSpec, f"study.arms[{i}]", **arm))
            except TypeError as exc:
                raise ConfigError(f"study arm {dict(arm)}: {exc}.") from None
        try:
            return cls(arms=tuple(arms), **kw)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"study config: a value has the wrong type ({exc}).",
                              fix="numbers where numbers are expected, lists where lists are.") from None

    @classmethod
    def load(cls, name_or_path: str | Path) -> StudyConfig:
        """A preset in ``configs/study/`` or a YAML path."""
        path = Path(name_or_path)
        if not path.is_file():
            path = config_dir("study") / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"no study config {str(name_or_path)!r}.",
                              fix="give a YAML path or a configs/study/ name.")
        data = read_yaml_mapping(path, "study config")
        return cls.from_dict({"name": path.stem, **data})
