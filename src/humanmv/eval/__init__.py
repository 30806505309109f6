"""Evaluation metrics (the benchmark runner and report tables build on these).

One idea per module; images are (B, 3, H, W) float32 in [0, 1], masks (B, 1, H, W) or (B, H, W):
- `image_metrics`:    PSNR, SSIM, mask IoU, normal angular error, depth error (full or masked).
- `identity_metrics`: I2OID, O2OID, Re-ID match/dist, CSIM with dlib face embeddings.
- `pose_metrics`:     PCK@alpha of detected keypoints against projected ground-truth joints.
- `lpips`:            LPIPS (AlexNet / VGG16 trunk + linear heads), `load_lpips(trunk, heads)`, and
                      the shift-tolerant trunks of ST-LPIPS (`alex-st`, `vgg-st`).
- `stlpips_weights`:  ST-LPIPS weights from the stlpips-pytorch wheel into the cache (set-up), `load_stlpips`.
- `inception`, `fid`: Inception-v3 pool3 features, `load_inception(path)`, FID and KID.
- `clip`:             CLIP ViT-B/32 image encoder, `load_clip(path)`, CLIP image similarity.
- `availability`:     `Metric`: a value, or unavailable with the reason (e.g. weights not given).
- `weights`:          reading weight files safely (safetensors / `torch.load(weights_only=True)`).
- `nets`:             the networks a bench run was given (`--lpips-weights`, ...), loaded once.
- `consistency`:      reprojection between neighbouring views with a method's depth; neighbour O2OID.
- `methods`:          the bench's methods by name (`register_method`): copy-input, prior, ...
- `bench`, `real`:    the runners (`humanmv bench --split` / `--real`); `report`: tables, figure.

No network weights ship with humanmv or are downloaded at run time: the loaders read files the user gives
(ST-LPIPS: the cache `humanmv setup` fills)
and raise `CheckpointError` naming the file and the first missing or mismatched key.
"""

from humanmv.eval.availability import Metric, MetricUnavailableError, needs_weights, weights_reason
from humanmv.eval.image_metrics import (
    AngularErrors,
    DepthErrors,
    depth_error,
    mask_iou,
    normal_angular_error,
    psnr,
    ssim,
    ssim_map,
)

__all__ = [
    "AngularErrors",
    "DepthErrors",
    "Metric",
    "MetricUnavailableError",
    "depth_error",
    "mask_iou",
    "needs_weights",
    "normal_angular_error",
    "psnr",
    "ssim",
    "ssim_map",
    "weights_reason",
]
