"""Segmentation networks from MONAI, built from a :class:`TrainConfig`."""

from __future__ import annotations

import torch
from monai.networks.nets import DynUNet, SegResNet, SwinUNETR, UNet

from synthtumor.train_seg.config import TrainConfig

__all__ = ["build_network", "deep_supervision_weights"]


def build_network(config: TrainConfig, out_channels: int) -> torch.nn.Module:
    """The configured network: ``config.in_channels`` inputs (CT; 2.5-D: the slab's slices) and
    ``out_channels`` classes, 3-D or 2-D by ``config.dims``.

    DynUNet follows nnU-Net: 3x3(x3) kernels, stride 2 from the second level, deep supervision
    over the two highest-resolution auxiliary heads (training mode only); residual or plain
    blocks by ``config.residual_blocks``.
    """
    levels = len(config.channels)
    dims, inputs = config.spatial_dims, config.in_channels
    if config.network == "unet":
        return UNet(spatial_dims=dims, in_channels=inputs, out_channels=out_channels, channels=config.channels,
                    strides=(2,) * (levels - 1), num_res_units=1)
    if config.network == "dynunet":
        return DynUNet(spatial_dims=dims, in_channels=inputs, out_channels=out_channels,
                       kernel_size=[3] * levels, strides=[1] + [2] * (levels - 1),
                       upsample_kernel_size=[2] * (levels - 1), filters=config.channels,
                       deep_supervision=levels > 2, deep_supr_num=max(1, min(2, levels - 2)),
                       res_block=config.residual_blocks)
    if config.network == "segresnet":
        return SegResNet(spatial_dims=dims, in_channels=inputs, out_channels=out_channels,
                         init_filters=config.channels[0])
    feature = max(12, 12 * round(config.channels[0] / 12))
    return SwinUNETR(in_channels=1, out_channels=out_channels, feature_size=feature, spatial_dims=3)


def deep_supervision_weights(n_outputs: int) -> list[float]:
    """nnU-Net's weights for the main output and its auxiliary heads: 1, 1/2, 1/4, ... normalised."""
    raw = [0.5**i for i in range(n_outputs)]
    return [w / sum(raw) for w in raw]
