"""CLIP image encoder (OpenAI's ViT, default ViT-B/32) and CLIP image-image similarity.

The encoder is OpenAI's vision transformer: a patch-embedding conv (no bias), a class token and
learned positional embeddings, `ln_pre`, pre-norm residual blocks (multi-head self-attention
with a packed q/k/v projection, then an MLP with QuickGELU, x * sigmoid(1.702 x)), `ln_post` on
the class token, and a linear projection `proj` (width -> output_dim). Module keys are OpenAI's
(`visual.conv1.weight`, `visual.class_embedding`, `visual.positional_embedding`,
`visual.ln_pre.*`, `visual.transformer.resblocks.N.{ln_1,attn,ln_2,mlp}.*` with
`attn.in_proj_weight`, `attn.in_proj_bias`, `attn.out_proj.*`, `mlp.c_fc.*`, `mlp.c_proj.*`,
`visual.ln_post.*`, `visual.proj`).

Preprocessing is CLIP's own, in torch: bicubic resize (antialiased) of the shorter side to 224,
centre crop 224x224, normalise by CLIP's mean/std. Similarity is the cosine of the embeddings
(in [-1, 1]; some papers report 100x it).

`load_clip(path)` accepts (.safetensors, or .pt/.pth via `torch.load(weights_only=True)`):
- OpenAI-named state dicts: the full CLIP model (`visual.*` used, the text tower and
  `logit_scale` ignored), e.g. OpenAI's weights saved as a state dict, or open_clip's
  `ViT-B-32` checkpoints (`open_clip_pytorch_model.bin`, same names); `visual.`-less keys
  also work. The MLP activation cannot be read from a file: OpenAI's weights (and open_clip's
  `-quickgelu` / `openai` ones) use QuickGELU, the default; LAION-trained open_clip ViT-B-32
  weights use GELU: pass `CLIPVisionConfig(activation="gelu")`.
- Hugging Face transformers CLIP (`openai/clip-vit-base-patch32` `model.safetensors`):
  `vision_model.*` + `visual_projection.weight`, converted on load (q/k/v packed, projection
  transposed).
OpenAI's own `ViT-B-32.pt` is a TorchScript archive and is refused (it can run code): save its
`state_dict()` as .safetensors once.

Measured here (2 CPU cores, batches of 8): ViT-B/32 ~0.27 s per image, preprocessing included.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from humanmv.eval.weights import freeze, load_checked, read_state_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class CLIPVisionConfig:
    """ViT image encoder sizes; the defaults are ViT-B/32 (224 px input, 512-D output)."""

    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    heads: int = 12
    output_dim: int = 512
    activation: str = "quick_gelu"  # OpenAI's weights; LAION-trained open_clip models: "gelu"

    @classmethod
    def vit_b_32(cls) -> CLIPVisionConfig:
        return cls()

    @classmethod
    def vit_b_16(cls) -> CLIPVisionConfig:
        return cls(patch_size=16)

    @classmethod
    def vit_l_14(cls) -> CLIPVisionConfig:
        return cls(patch_size=14, width=1024, layers=24, heads=16, output_dim=768)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


class QuickGELU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def _activation(name: str) -> nn.Module:
    if name == "quick_gelu":
        return QuickGELU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"CLIP activation must be 'quick_gelu' or 'gelu', got {name!r}")


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, T, width) -> (B, T, width)."""
        b, t, w = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(head_dim)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, w))


class ResidualBlock(nn.Module):
    def __init__(self, width: int, heads: int, activation: str = "quick_gelu") -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, 4 * width)),
                    ("gelu", _activation(activation)),
                    ("c_proj", nn.Linear(4 * width, width)),
                ]
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, activation: str = "quick_gelu") -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(width, heads, activation) for _ in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class VisionTransformer(nn.Module):
    """OpenAI CLIP's `visual` module: pixels (B, 3, S, S), CLIP-normalised -> (B, output_dim)."""

    def __init__(self, cfg: CLIPVisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        scale = w**-0.5
        self.conv1 = nn.Conv2d(3, w, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid**2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, cfg.layers, cfg.heads, cfg.activation)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, cfg.output_dim))

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.conv1(pixels.to(self.conv1.weight.dtype))  # (B, width, g, g)
        x = x.flatten(2).transpose(1, 2)  # (B, g*g, width)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


def clip_preprocess(images: Tensor, size: int = 224) -> Tensor:
    """CLIP's preprocessing: (B, 3, H, W) in [0, 1] -> (B, 3, size, size) normalised.

    Shorter side resized to `size` (bicubic, antialiased, clamped to [0, 1]; the longer side to
    int(size * long / short)), centre crop (offset round((L - size) / 2)), then
    (x - CLIP_MEAN) / CLIP_STD per channel.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"CLIP expects (B, 3, H, W) images, got {tuple(images.shape)}")
    x = images.float()
    h, w = x.shape[-2:]
    nh, nw = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    if (nh, nw) != (h, w):
        # antialias=True is PIL's bicubic (a = -0.5, widened kernel when shrinking), as CLIP's
        # PIL-based transform; without it torch uses a = -0.75.
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
        x = x.clamp(0.0, 1.0)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    x = x[:, :, top : top + size, left : left + size]
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class CLIPImageEncoder(nn.Module):
    """CLIP's image tower; random weights when built directly, `load_clip` loads a file.

    forward(pixels):  (B, 3, S, S) already preprocessed -> (B, output_dim) embeddings.
    encode(images):   (B, 3, H, W) in [0, 1] -> (B, output_dim), preprocessing included.
    """

    def __init__(self, config: CLIPVisionConfig | None = None) -> None:
        super().__init__()
        self.config = config or CLIPVisionConfig()
        self.visual = VisionTransformer(self.config)
        freeze(self)

    def forward(self, pixels: Tensor) -> Tensor:
        return self.visual(pixels)

    def encode(self, images: Tensor, batch_size: int = 16) -> Tensor:
        out: list[Tensor] = []
        with torch.no_grad():
            for i in range(0, images.shape[0], batch_size):
                out.append(self(clip_preprocess(images[i : i + batch_size], self.config.image_size)).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.config.output_dim)


def clip_similarity(encoder: CLIPImageEncoder, images: Tensor, references: Tensor) -> Tensor:
    """CLIP image-image similarity: cosine of the embeddings, `(B,)` float32 in [-1, 1].

    images:     (B, 3, H, W) in [0, 1], e.g. generated views.
    references: (B, 3, H', W') matched one to one, or (1, 3, H', W') compared with every image
                (the input photo, as Gen3D-Face's "CLIP similarity").
    """
    a = encoder.encode(images)
    r = encoder.encode(references)
    if r.shape[0] not in (1, a.shape[0]):
        raise ValueError(f"{r.shape[0]} references for {a.shape[0]} images: give 1 or {a.shape[0]}")
    return F.cosine_similarity(a, r.expand_as(a), dim=1)


_HF_LAYER = re.compile(r"^vision_model\.encoder\.layers\.(\d+)\.(.+)$")
_HF_SIMPLE = {
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
    "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
    "vision_model.post_layernorm.weight": "visual.ln_post.weight",
    "vision_model.post_layernorm.bias": "visual.ln_post.bias",
}
_HF_IN_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def _from_hf(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face CLIPModel / CLIPVisionModelWithProjection keys -> OpenAI `visual.*` keys."""
    out: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}
    for key, t in state.items():
        if key in _HF_SIMPLE:
            out[_HF_SIMPLE[key]] = t
        elif key == "visual_projection.weight":
            out["visual.proj"] = t.t().contiguous()
        elif m := _HF_LAYER.match(key):
            i, rest = m.group(1), m.group(2)
            prefix = f"visual.transformer.resblocks.{i}."
            pm = re.match(r"^self_attn\.([qkv])_proj\.(weight|bias)$", rest)
            if pm:
                qkv.setdefault(f"{prefix}attn.in_proj_{pm.group(2)}", {})[pm.group(1)] = t
                continue
            for hf, oa in _HF_IN_LAYER.items():
                if rest.startswith(hf + "."):
                    out[prefix + oa + rest[len(hf) :]] = t
                    break
    for key, parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def load_clip(path: str | PathLike[str], config: CLIPVisionConfig | None = None) -> CLIPImageEncoder:
    """CLIP image encoder with weights from a user-given file (see the module docstring).

    config: the expected architecture (default ViT-B/32); a file of another size fails with a
            CheckpointError naming the first mismatched key.
    """
    p = Path(path)
    state = read_state_dict(p, "CLIP")
    if any(k.startswith("vision_model.") for k in state):
        state = _from_hf(state)
    elif not any(k.startswith("visual.") for k in state) and "conv1.weight" in state:
        state = {f"visual.{k}": v for k, v in state.items()}
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = CLIPImageEncoder(config)
    load_checked(model, {k: v for k, v in state.items() if k.startswith("visual.")}, p, "CLIP")
    return freeze(model)
