"""Prediction skips the air around the body: windows only over the in-plane box of tissue."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.predict import TrainedStage, body_box


class Everywhere(torch.nn.Module):
    """Class 1 wherever it looks; counts the windows it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.windows = 0

    def forward(self, x):
        self.windows += x.shape[0]
        logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
        logits[:, 1] = 1.0
        return logits


def _stage(dims: float) -> tuple[TrainedStage, Everywhere]:
    stage = object.__new__(TrainedStage)  # a stage without a run folder: config and network only
    three_d = dims == 3.0
    stage.config = replace(TrainConfig.load("tiny_cpu"), dims=dims, network="unet",
                           patch_size=(16, 16, 8) if three_d else (16, 16))
    stage.network = Everywhere()
    return stage, stage.network


def _scan() -> torch.Tensor:
    image = torch.zeros(1, 60, 50, 12)  # windowed: air is 0
    image[0, 10:41, 5:30, 3:9] = 0.6  # the body
    image[0, 12, 40, 0] = 0.1  # a speck of tissue on another slice widens the box
    return image


def test_the_box_holds_every_voxel_above_zero_across_all_slices():
    box = body_box(_scan())
    assert box == (slice(10, 41), slice(5, 41), slice(0, 12))
    assert body_box(torch.zeros(1, 8, 8, 4)) is None


# windows of 16 voxels every 12 (overlap 0.25): the 31 x 36 box needs 3 x 3 per slice, the 60 x 50
# plane 5 x 4; along Z (3-D, windows of 8 every 6 over 12 slices) 2
@pytest.mark.parametrize("dims, windows", [(2.0, 3 * 3 * 12), (2.5, 3 * 3 * 12), (3.0, 3 * 3 * 2)])
def test_labels_outside_the_box_are_background_and_only_the_box_is_windowed(dims, windows):
    stage, network = _stage(dims)
    labels = stage.segment(_scan())
    assert labels.shape == (60, 50, 12)
    expected = np.zeros(labels.shape, np.uint8)
    expected[10:41, 5:41, :] = 1
    np.testing.assert_array_equal(labels, expected)
    assert network.windows == windows  # the whole plane would take 5 * 4 per slice


def test_a_scan_with_no_tissue_is_all_background_without_running_the_network():
    stage, network = _stage(2.5)
    labels = stage.segment(torch.zeros(1, 20, 20, 5))
    assert labels.shape == (20, 20, 5) and not labels.any() and network.windows == 0
