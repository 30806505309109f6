"""Attention processors that make diffusers' UNet2DConditionModel multi-view.

They are plugged into the UNet's `Attention` layers with `unet.set_attn_processor(...)`; the UNet
itself is neither copied nor patched. Per-call state travels in `cross_attention_kwargs={"mv":
MultiViewContext(...)}`, which diffusers hands to every processor (and to the recomputation when
gradient checkpointing is on, so a checkpointed layer sees the same context twice).

Self-attention (attn1) -> `MultiViewSelfAttnProcessor`:
- cross-view: the UNet batch is S subjects x N views, view-major within a subject (row s*N + n).
  The tokens of the N views of one subject are joined into one sequence of N*L tokens, so every
  view attends to every other view of the same subject (and to nothing else).
- reference attention with R reference streams per subject (the photo; or e.g. a front and a
  back reference): in a "write" pass (the clean references at t=0, one UNet row per kept
  subject and stream) each layer stores its input tokens in `context.bank[layer name]`; in the
  "read" pass (the N target views) the L_ref tokens of all R streams of a subject are appended
  to the keys/values of its views (R * L_ref more keys). `ref_index` (S, R) says which bank row
  holds stream r of subject s; -1 (dropped: the unconditional branch of classifier-free
  guidance, or training dropout) masks that stream's keys out.
Cross-attention (attn2) -> `ImageCrossAttnProcessor`: plain attention to the tokens the UNet is
given (the references' image tokens and any extra token streams, see models/mv_unet.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0


@dataclass
class MultiViewContext:
    """Per-forward state shared by the processors.

    num_views: N, views per subject in this pass (the batch is S*N rows, view-major).
    mode: "none" (no reference), "write" (store attn1 inputs) or "read" (attend to them).
    bank: layer name -> (K, L_ref, C) reference tokens, one row per (kept subject, stream),
        filled by a "write" pass.
    ref_index: (S, R) long, the bank row of stream r of subject s, -1 where dropped; (S,) is
        read as R = 1; None: bank row s is subject s's only stream.
    """

    num_views: int = 1
    mode: str = "none"
    bank: dict[str, torch.Tensor] = field(default_factory=dict)
    ref_index: torch.Tensor | None = None


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, H*D) -> (B, H, L, D)."""
    b, n, c = x.shape
    return x.view(b, n, heads, c // heads).transpose(1, 2)


class MultiViewSelfAttnProcessor:
    """attn1 processor: cross-view + reference self-attention (see the module docstring).

    name: the layer's processor name (the bank key); cross_view: join the N views' tokens.
    With `mv=None` it is ordinary self-attention, so the UNet still works when called directly.
    """

    def __init__(self, name: str, cross_view: bool = True):
        self.name = name
        self.cross_view = cross_view

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        mv: MultiViewContext | None = None,
    ) -> torch.Tensor:
        if hidden_states.ndim != 3 or attention_mask is not None or encoder_hidden_states is not None:
            raise ValueError("MultiViewSelfAttnProcessor serves transformer self-attention (B, L, C) without masks")
        mv = mv or MultiViewContext()
        residual = hidden_states
        batch, length, channels = hidden_states.shape
        if mv.mode == "write":
            # setdefault: a checkpoint recomputation must not replace the tensor already used.
            mv.bank.setdefault(self.name, hidden_states)

        group = mv.num_views if self.cross_view else 1
        tokens = hidden_states.reshape(batch // group, group * length, channels)  # (G, N*L, C)
        context, mask = tokens, None
        if mv.mode == "read" and self.name in mv.bank:
            context, mask = self._with_reference(tokens, mv)

        query = _split_heads(attn.to_q(tokens), attn.heads)
        key = _split_heads(attn.to_k(context), attn.heads)
        value = _split_heads(attn.to_v(context), attn.heads)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch // group, group * length, -1).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        out = out.reshape(batch, length, -1)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _with_reference(
        self, tokens: torch.Tensor, mv: MultiViewContext
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Append the reference tokens of all R streams of each subject to `tokens` (G, M, C)
        -> keys/values (G, M + R*L_ref, C) + a key mask for dropped streams (None if none)."""
        bank = mv.bank[self.name]  # (K, L_ref, C)
        index = mv.ref_index
        if index is None:
            index = torch.arange(bank.shape[0], device=tokens.device)
        index = index.reshape(index.shape[0], -1)  # (S, R)
        subjects, streams = index.shape
        ref_len = bank.shape[1]
        # (S, R, L_ref, C) -> (S, R*L_ref, C); dropped streams are masked below.
        ref = bank[index.clamp_min(0)].reshape(subjects, streams * ref_len, bank.shape[2])
        keep = (index >= 0).repeat_interleave(ref_len, dim=1)  # (S, R*L_ref)
        if not self.cross_view:  # one group per view: every view of a subject sees its references
            ref = ref.repeat_interleave(mv.num_views, dim=0)
            keep = keep.repeat_interleave(mv.num_views, dim=0)
        context = torch.cat([tokens, ref], dim=1)
        if bool(keep.all()):
            return context, None  # no mask keeps SDPA on its fastest path
        mask = torch.ones(tokens.shape[0], 1, 1, context.shape[1], dtype=torch.bool, device=tokens.device)
        mask[:, 0, 0, tokens.shape[1]:] = keep
        return context, mask


class ImageCrossAttnProcessor(AttnProcessor2_0):
    """attn2 processor: standard SDPA attention to the given tokens; accepts (and ignores) `mv`
    so that diffusers does not warn about an unexpected cross_attention_kwargs entry."""

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        mv: MultiViewContext | None = None,
    ) -> torch.Tensor:
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def multiview_processors(attn_processor_names, cross_view: bool = True) -> dict:
    """Processors for `unet.set_attn_processor`: attn1 layers get the multi-view processor,
    everything else (attn2) the image cross-attention processor.

    attn_processor_names: the keys of `unet.attn_processors`
    (e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor").
    """
    return {
        name: MultiViewSelfAttnProcessor(name, cross_view)
        if name.endswith("attn1.processor")
        else ImageCrossAttnProcessor()
        for name in attn_processor_names
    }
