"""Identity and face-shape tokens for the face stage (seed 000, stage 2): what the multi-view
UNet's cross-attention reads besides the reference image's tokens.

- identity: dlib's 128-D face embedding of the photo, made unit length, projected to
  `identity_tokens` tokens and layer-normed (IP-Adapter's image-prompt projection);
- face shape: the fitted phenotype and facial actions through a small MLP to `shape_tokens`
  tokens (the 3D face-structure prior; the normal and landmark maps of `body.face_conditions`
  are the other half, concatenated to the UNet's input).

    tokens = FaceTokens(FaceTokensConfig(cross_attention_dim=256, shape_dim=6 + 52))
    extra = tokens(identity, has_identity, shape)     # [S, T, D]
    unet(..., extra_tokens=extra)                     # MultiViewUNet appends them

`use_identity` / `use_shape` build a model without a stream (its tokens are not made at all). A
subject whose photo gave no embedding (has_identity False), or whose shape stream is switched
off (has_shape False), gets zero tokens for it, as a dropped reference does: trained with such
stream dropout, one model runs the ablation rows "3D features only" / "identity only" at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

IDENTITY_DIM = 128  # dlib's face descriptor


@dataclass
class FaceTokensConfig:
    cross_attention_dim: int
    shape_dim: int
    identity_tokens: int = 4
    shape_tokens: int = 4
    hidden: int = 256
    use_identity: bool = True
    use_shape: bool = True

    @property
    def num_tokens(self) -> int:
        return self.identity_tokens * self.use_identity + self.shape_tokens * self.use_shape


class FaceTokens(nn.Module):
    """`forward(identity [S, 128], has_identity [S] bool, shape [S, shape_dim], has_shape [S] bool
    or None = all) -> [S, T, D]`, T = config.num_tokens (identity tokens first)."""

    def __init__(self, config: FaceTokensConfig):
        super().__init__()
        self.config = config
        d = config.cross_attention_dim
        if config.use_identity:
            self.identity_proj = nn.Linear(IDENTITY_DIM, config.identity_tokens * d)
            self.identity_norm = nn.LayerNorm(d)
        if config.use_shape:
            self.shape_mlp = nn.Sequential(nn.Linear(config.shape_dim, config.hidden), nn.SiLU(),
                                           nn.Linear(config.hidden, config.shape_tokens * d))
            self.shape_norm = nn.LayerNorm(d)

    def forward(self, identity: torch.Tensor, has_identity: torch.Tensor, shape: torch.Tensor,
                has_shape: torch.Tensor | None = None) -> torch.Tensor:
        c, d = self.config, self.config.cross_attention_dim
        s = shape.shape[0]
        assert identity.shape == (s, IDENTITY_DIM) and has_identity.shape == (s,), (identity.shape, has_identity.shape)
        assert shape.shape == (s, c.shape_dim), (shape.shape, c.shape_dim)
        parts = []
        if c.use_identity:
            tokens = self.identity_norm(self.identity_proj(F.normalize(identity.float(), dim=-1)).view(s, -1, d))
            parts.append(tokens * has_identity.to(tokens)[:, None, None])
        if c.use_shape:
            tokens = self.shape_norm(self.shape_mlp(shape.float()).view(s, -1, d))
            parts.append(tokens if has_shape is None else tokens * has_shape.to(tokens)[:, None, None])
        if not parts:
            return shape.new_zeros(s, 0, d)
        return torch.cat(parts, dim=1)


__all__ = ["FaceTokens", "FaceTokensConfig", "IDENTITY_DIM"]
