"""3DHumanGAN (Yang et al. 2022, arXiv 2212.07378): a 2D backbone of 1x1 convolutions modulated
by a 3D pose mapping network rendered along camera rays near a posed body, and by an appearance
code; trained with a U-Net discriminator's per-pixel segmentation GAN loss.

    config = get_gan3d_config("small")
    posed = PosedBody.from_anny(body, params)                          # world frame
    samples = shell_samples(posed, cameras.resized(config.style_width, config.style_height), renderer,
                            config.shell_half_thickness, config.samples_per_ray, generator=g)
    out = GAN3DGenerator(config)(z, samples)                           # rgb [B, 3, H, W], mask
    d = UNetDiscriminator(config)(out.rgb)                             # logits [B, 2 + K, H, W]

Modules: `config` (GAN3DConfig, named configs), `body_rays` (rays, hit points, inverse LBS,
shell samples: geometry only), `pose_mapping` (SIREN + ray integration), `backbone` (appearance
mapping, SPADE / modulated 1x1 backbone), `generator`, `discriminator`, `losses`.
"""

from humanmv.models.gan3d.backbone import SPADE, AppearanceMapping, GeneratorBackbone, ModulatedConv2d
from humanmv.models.gan3d.body_rays import (PosedBody, ShellSamples, barycentric_coordinates, pixel_rays,
                                            render_labels, rest_vertices, shell_distances, shell_samples,
                                            vertex_blend_matrices)
from humanmv.models.gan3d.config import GAN3D_CONFIGS, GAN3DConfig, get_gan3d_config
from humanmv.models.gan3d.discriminator import DiscriminatorOutput, UNetDiscriminator
from humanmv.models.gan3d.generator import GAN3DGenerator, GAN3DOutput, parameter_count
from humanmv.models.gan3d.losses import (class_balance_weights, label_targets, nonsaturating_d_loss,
                                         nonsaturating_g_loss, r1_penalty, realness_score, segmentation_d_loss,
                                         segmentation_g_loss)
from humanmv.models.gan3d.pose_mapping import PoseMappingNetwork, SineLayer, Siren, composite, integrate_along_rays

__all__ = [
    "GAN3DConfig", "GAN3D_CONFIGS", "get_gan3d_config",
    "PosedBody", "ShellSamples", "vertex_blend_matrices", "rest_vertices", "pixel_rays", "barycentric_coordinates",
    "shell_distances", "render_labels", "shell_samples",
    "SineLayer", "Siren", "composite", "integrate_along_rays", "PoseMappingNetwork",
    "AppearanceMapping", "SPADE", "ModulatedConv2d", "GeneratorBackbone",
    "GAN3DGenerator", "GAN3DOutput", "parameter_count",
    "UNetDiscriminator", "DiscriminatorOutput",
    "label_targets", "class_balance_weights", "segmentation_d_loss", "segmentation_g_loss",
    "nonsaturating_d_loss", "nonsaturating_g_loss", "realness_score", "r1_penalty",
]
