"""Reconstruction from generated views: the body refitted to the views' silhouettes
(`body_refit`) and the views' colours fused into its UV texture (`texture_fusion`), so that
renders of the result agree from every angle."""

from humanmv.recon.body_refit import RefitConfig, RefitResult, refit_body_to_views
from humanmv.recon.texture_fusion import FusedTexture, FusionConfig, ViewImages, fuse_views_into_texture

__all__ = ["FusedTexture", "FusionConfig", "RefitConfig", "RefitResult", "ViewImages", "fuse_views_into_texture",
           "refit_body_to_views"]
