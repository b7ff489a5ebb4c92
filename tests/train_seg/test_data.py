"""Training pipelines: building them stays quiet about MONAI's absent GPU DICOM decoder."""

from __future__ import annotations

import logging
import warnings

from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import _head


def test_building_the_loader_is_quiet_and_restores_the_logger(caplog):
    logger = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    before = logger.level
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        head = _head(TrainConfig.load("tiny_cpu"))
    assert type(head[0]).__name__ == "LoadImaged"
    assert not [r for r in caplog.records if "nvImageCodec" in r.getMessage()]
    assert not [w for w in caught if "NvImgCodec" in str(w.message)]
    assert logger.level == before
