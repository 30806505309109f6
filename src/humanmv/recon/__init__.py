"""Reconstruction from generated views (the "reconstruct" stage, `reconstruct_avatar`): the body
refitted to the views' silhouettes (`body_refit`), the views' colours fused into its UV texture
(`texture_fusion`), and the resulting `Avatar` (`avatar`: avatar.glb + avatar.json), so that
renders of the result agree from every angle."""

from humanmv.recon.avatar import Avatar, read_avatar_json, rebuild_bind_vertices, rebuild_vertices
from humanmv.recon.body_refit import RefitConfig, RefitResult, refit_body_to_views
from humanmv.recon.reconstruct import (RECONSTRUCT_MODES, Reconstruction, ReconstructOptions, check_reconstruct_mode,
                                       fuse_into_avatar, reconstruct_avatar, refit_avatar)
from humanmv.recon.texture_fusion import FusedTexture, FusionConfig, fuse_views_into_texture

__all__ = ["RECONSTRUCT_MODES", "Avatar", "FusedTexture", "FusionConfig", "Reconstruction", "ReconstructOptions",
           "RefitConfig", "RefitResult", "check_reconstruct_mode", "fuse_into_avatar", "fuse_views_into_texture", "read_avatar_json",
           "rebuild_bind_vertices", "rebuild_vertices", "reconstruct_avatar", "refit_avatar", "refit_body_to_views"]
