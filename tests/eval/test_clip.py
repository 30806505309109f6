"""CLIP image encoder: OpenAI layout, round trips (OpenAI and Hugging Face names), preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from humanmv.errors import CheckpointError
from humanmv.eval.clip import (
    CLIP_MEAN,
    CLIP_STD,
    CLIPImageEncoder,
    CLIPVisionConfig,
    SelfAttention,
    clip_preprocess,
    clip_similarity,
    load_clip,
)
from humanmv.views import channels_first

TINY = CLIPVisionConfig(image_size=64, patch_size=16, width=64, layers=2, heads=4, output_dim=32)


@pytest.fixture(scope="module")
def b32() -> CLIPImageEncoder:
    torch.manual_seed(0)
    return CLIPImageEncoder()


@pytest.fixture(scope="module")
def tiny() -> CLIPImageEncoder:
    torch.manual_seed(1)
    return CLIPImageEncoder(TINY)


def test_vit_b32_layout_and_output(b32: CLIPImageEncoder) -> None:
    sd = b32.state_dict()
    assert sum(v.numel() for v in sd.values()) == 87_849_216  # OpenAI ViT-B/32's visual tower
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["visual.conv1.weight"] == (768, 3, 32, 32)
    assert shapes["visual.class_embedding"] == (768,)
    assert shapes["visual.positional_embedding"] == (50, 768)
    assert shapes["visual.transformer.resblocks.11.attn.in_proj_weight"] == (2304, 768)
    assert shapes["visual.transformer.resblocks.0.attn.in_proj_bias"] == (2304,)
    assert shapes["visual.transformer.resblocks.0.attn.out_proj.weight"] == (768, 768)
    assert shapes["visual.transformer.resblocks.0.mlp.c_fc.weight"] == (3072, 768)
    assert shapes["visual.transformer.resblocks.0.mlp.c_proj.weight"] == (768, 3072)
    assert shapes["visual.ln_post.bias"] == (768,) and shapes["visual.proj"] == (768, 512)
    assert not any("resblocks.12." in k for k in sd)
    emb = b32.encode(torch.rand(2, 3, 300, 400, generator=torch.Generator().manual_seed(2)))
    assert emb.shape == (2, 512) and emb.dtype == torch.float32 and torch.isfinite(emb).all()


def test_vit_b32_round_trip_with_the_text_tower_present(b32: CLIPImageEncoder, tmp_path: Path) -> None:
    state = b32.state_dict()
    extra = {  # a full CLIP state dict also holds the text tower; the loader ignores it
        "positional_embedding": torch.zeros(77, 512),
        "token_embedding.weight": torch.zeros(10, 512),
        "transformer.resblocks.0.attn.in_proj_weight": torch.zeros(1536, 512),
        "logit_scale": torch.tensor(4.6),
    }
    path = tmp_path / "ViT-B-32.safetensors"
    save_file({**state, **extra}, path)
    loaded = load_clip(path)
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    assert torch.equal(loaded.encode(x), b32.encode(x))


def test_attention_matches_torch_multihead_attention() -> None:
    torch.manual_seed(4)
    ours = SelfAttention(64, 4)
    ref = torch.nn.MultiheadAttention(64, 4, batch_first=True)
    ref.load_state_dict(ours.state_dict())  # the same parameter names
    x = torch.randn(2, 7, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x, x, x, need_weights=False)[0], atol=1e-5)


def _to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Write OpenAI visual keys with transformers' CLIP names (what its converter produces)."""
    out = {
        "vision_model.embeddings.class_embedding": state["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": state["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": state["visual.positional_embedding"],
        "vision_model.embeddings.position_ids": torch.arange(state["visual.positional_embedding"].shape[0]),
        "vision_model.pre_layrnorm.weight": state["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": state["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": state["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": state["visual.ln_post.bias"],
        "visual_projection.weight": state["visual.proj"].t().contiguous(),
        "text_model.embeddings.token_embedding.weight": torch.zeros(5, 8),
    }
    i = 0
    while f"visual.transformer.resblocks.{i}.ln_1.weight" in state:
        src, dst = f"visual.transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for name in ("weight", "bias"):
            q, k, v = state[f"{src}attn.in_proj_{name}"].chunk(3)
            out[f"{dst}self_attn.q_proj.{name}"] = q.contiguous()
            out[f"{dst}self_attn.k_proj.{name}"] = k.contiguous()
            out[f"{dst}self_attn.v_proj.{name}"] = v.contiguous()
            out[f"{dst}self_attn.out_proj.{name}"] = state[f"{src}attn.out_proj.{name}"]
            out[f"{dst}layer_norm1.{name}"] = state[f"{src}ln_1.{name}"]
            out[f"{dst}layer_norm2.{name}"] = state[f"{src}ln_2.{name}"]
            out[f"{dst}mlp.fc1.{name}"] = state[f"{src}mlp.c_fc.{name}"]
            out[f"{dst}mlp.fc2.{name}"] = state[f"{src}mlp.c_proj.{name}"]
        i += 1
    return out


def test_hugging_face_names_load(tiny: CLIPImageEncoder, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(_to_hf({k: v.clone() for k, v in tiny.state_dict().items()}), path)
    loaded = load_clip(path, TINY)
    x = torch.rand(2, 3, 80, 64, generator=torch.Generator().manual_seed(5))
    assert torch.equal(loaded.encode(x), tiny.encode(x))


def test_preprocessing_resize_crop_normalise() -> None:
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    flat = clip_preprocess(torch.full((1, 3, 300, 500), 0.25))
    assert flat.shape == (1, 3, 224, 224)
    assert torch.allclose(flat, ((0.25 - mean) / std).expand(1, 3, 224, 224), atol=1e-5)
    # a 224 x 448 ramp needs no resize: the crop keeps columns 112 .. 335
    ramp = torch.arange(448.0).view(1, 1, 1, 448).expand(1, 3, 224, 448) / 448
    out = clip_preprocess(ramp) * std + mean
    assert torch.allclose(out[0, 0, 0], torch.arange(112.0, 336.0) / 448, atol=1e-5)
    tall = clip_preprocess(torch.rand(2, 3, 500, 250))
    assert tall.shape == (2, 3, 224, 224)


def test_similarity(tiny: CLIPImageEncoder) -> None:
    g = torch.Generator().manual_seed(6)
    views = torch.rand(3, 3, 64, 64, generator=g)
    same = clip_similarity(tiny, views, views)
    assert same.shape == (3,) and torch.allclose(same, torch.ones(3), atol=1e-5)
    one_ref = clip_similarity(tiny, views, views[:1])
    assert one_ref[0].item() == pytest.approx(1.0, abs=1e-5) and (one_ref[1:] < 0.99999).all()
    with pytest.raises(ValueError, match="references"):
        clip_similarity(tiny, views, views[:2])


def test_bad_files(tiny: CLIPImageEncoder, b32: CLIPImageEncoder, tmp_path: Path) -> None:
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    del state["visual.transformer.resblocks.1.mlp.c_proj.bias"]
    save_file(state, tmp_path / "missing.safetensors")
    key = r"'visual\.transformer\.resblocks\.1\.mlp\.c_proj\.bias'"
    with pytest.raises(CheckpointError, match=r"missing\.safetensors is missing the key " + key):
        load_clip(tmp_path / "missing.safetensors", TINY)
    # a ViT-B/32 file where a ViT-B/16 is expected: 50 positions, not 197
    b32_file = tmp_path / "b32.safetensors"
    save_file(b32.state_dict(), b32_file)
    msg = r"'visual\.positional_embedding' has shape \(50, 768\), expected \(197, 768\)"
    with pytest.raises(CheckpointError, match=msg):
        load_clip(b32_file, CLIPVisionConfig.vit_b_16())


def test_resize_matches_pillow_bicubic() -> None:
    """CLIP's reference transform resizes with PIL's bicubic filter; ours is torch's antialiased
    bicubic, which matches it up to PIL's 8-bit rounding."""
    from PIL import Image

    from humanmv.io.images import load_image

    rgb = load_image(Path(__file__).resolve().parents[2] / "examples" / "grace_hopper.jpg").rgb  # 512 x 600
    pil = Image.fromarray(rgb).resize((224, 262), Image.BICUBIC)
    ref = channels_first(torch.from_numpy(np.asarray(pil).copy())).float() / 255.0
    x = channels_first(torch.from_numpy(rgb.copy()))[None].float() / 255.0
    std, mean = torch.tensor(CLIP_STD).view(1, 3, 1, 1), torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    ours = clip_preprocess(x) * std + mean
    top = round((262 - 224) / 2)
    diff = (ours[0] - ref[:, top : top + 224]).abs()
    assert diff.mean() < 2e-3 and diff.max() < 0.05


def test_activation_is_part_of_the_config(tiny: CLIPImageEncoder) -> None:
    x = torch.linspace(-3, 3, 13)
    mlp_act = tiny.visual.transformer.resblocks[0].mlp.gelu
    assert torch.allclose(mlp_act(x), x * torch.sigmoid(1.702 * x)), "OpenAI's QuickGELU by default"
    gelu_cfg = CLIPVisionConfig(**{**TINY.__dict__, "activation": "gelu"})
    other = CLIPImageEncoder(gelu_cfg)
    other.load_state_dict(tiny.state_dict())  # same keys: the activation has no weights
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    assert not torch.allclose(other.encode(img), tiny.encode(img))
    with pytest.raises(ValueError, match="activation"):
        CLIPImageEncoder(CLIPVisionConfig(activation="relu"))
