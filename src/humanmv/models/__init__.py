"""Neural modules of humanmv: the mvdiff multi-view UNet, its attention processors and encoders."""

from humanmv.models.camera import camera_features
from humanmv.models.config import CONFIGS, MVDiffConfig, get_config
from humanmv.models.mv_unet import MultiViewUNet, ReferenceState

__all__ = ["CONFIGS", "MVDiffConfig", "MultiViewUNet", "ReferenceState", "camera_features", "get_config"]
