"""View-sequence attention: an AnimateDiff-style motion module along the N views of a subject.

The N target views of a subject are treated as a sequence (frames of an orbit). At every
spatial location, the token of each view attends to the tokens at the same location in the other
views (all of them, or the K neighbours of a window: DiffPortrait360's view-consistency module,
Gen3D-Face's temporal block). A sinusoidal encoding of the view's index in the sequence is added
before the attention so that the order is seen; the output projection starts at zero, so a
freshly built block is the identity and can be switched on over a trained model, as AnimateDiff
trains its motion modules on top of a frozen image UNet.

The blocks are plugged in, not built into the UNet: `attach_view_sequence(unet)` makes one block
per diffusers `BasicTransformerBlock` and registers a forward hook that applies it to that
transformer block's output (after its spatial self-attention, cross-attention and feed-forward).
The blocks come back in a ModuleDict that the caller holds (MultiViewUNet keeps it as
`view_sequence`), so their weights are saved under their own keys and the UNet's state dict is
that of a plain diffusers UNet.

Tensor layout: the UNet batch is S subjects x N views, view-major within a subject (row s*N + n),
the same as the cross-view processor's. The hook reads N from the `MultiViewContext` that travels
in `cross_attention_kwargs["mv"]`; without one (the UNet called directly) and in the reference
pass (mode "write": the references are separate images, not views of the sequence) it does nothing.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock
from torch import nn

from humanmv.models.attention import MultiViewContext

# Where `cross_attention_kwargs` sits among a transformer block's positional arguments: gradient
# checkpointing calls the block positionally, the plain forward by keyword.
_CONTEXT_ARG = "cross_attention_kwargs"
_CONTEXT_POSITION = list(inspect.signature(BasicTransformerBlock.forward).parameters).index(_CONTEXT_ARG) - 1


def view_position_encoding(num_views: int, channels: int, device=None) -> torch.Tensor:
    """(N, C) sinusoidal encoding of the view indices 0..N-1 (the Transformer's, as in AnimateDiff):
    channel 2k is sin(n / 10000^(2k/C)), channel 2k+1 the matching cosine."""
    position = torch.arange(num_views, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32, device=device) * (-math.log(1e4) / channels))
    pe = torch.zeros(num_views, channels, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)[:, : channels // 2]
    return pe


def view_window_mask(num_views: int, window: int = 0, cyclic: bool = False, device=None) -> torch.Tensor | None:
    """(N, N) bool, True where view i may attend to view j: |i - j| <= window // 2, the distance
    taken around the loop when `cyclic` (an orbit's last view neighbours its first). None (no mask)
    when window is 0 or covers every view."""
    if window == 0:
        return None
    index = torch.arange(num_views, device=device)
    dist = (index[:, None] - index[None, :]).abs()
    if cyclic:
        dist = torch.minimum(dist, num_views - dist)
    mask = dist <= window // 2
    return None if bool(mask.all()) else mask


class ViewSequenceAttention(nn.Module):
    """Attention along the view sequence at every token position, zero-initialised residual.

    channels: C, the transformer block's width; heads: attention heads (C divisible by heads);
    window, cyclic: see `view_window_mask`.
    """

    def __init__(self, channels: int, heads: int, window: int = 0, cyclic: bool = False):
        super().__init__()
        if channels % heads:
            raise ValueError(f"ViewSequenceAttention: channels {channels} not divisible by heads {heads}")
        self.heads, self.window, self.cyclic = heads, window, cyclic
        self.norm = nn.LayerNorm(channels)
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        # Zero output: the block starts as the identity, so switching it on changes nothing
        # until it is trained.
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(self, hidden_states: torch.Tensor, num_views: int) -> torch.Tensor:
        """hidden_states (S*N, L, C), view-major within a subject -> (S*N, L, C)."""
        batch, length, channels = hidden_states.shape
        if batch % num_views:
            raise ValueError(f"ViewSequenceAttention: batch {batch} is not a multiple of num_views {num_views}")
        s, n, heads = batch // num_views, num_views, self.heads
        # (S*N, L, C) -> (S*L, N, C): one sequence of N views per subject and token position.
        x = hidden_states.reshape(s, n, length, channels).transpose(1, 2).reshape(s * length, n, channels)
        h = self.norm(x) + view_position_encoding(n, channels, x.device).to(x.dtype)

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, heads, N, C / heads)
            return t.view(s * length, n, heads, channels // heads).transpose(1, 2)

        mask = view_window_mask(n, self.window, self.cyclic, x.device)
        out = F.scaled_dot_product_attention(split(self.to_q(h)), split(self.to_k(h)), split(self.to_v(h)),
                                             attn_mask=mask)
        out = self.to_out(out.transpose(1, 2).reshape(s * length, n, channels))
        out = out.reshape(s, length, n, channels).transpose(1, 2).reshape(batch, length, channels)
        return hidden_states + out

    def after_block(self, block: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor):
        """Forward hook of a transformer block (registered with_kwargs): its output through this
        block, or None (output unchanged) without a multi-view context or in a reference pass."""
        extra = kwargs.get(_CONTEXT_ARG)
        if extra is None and len(args) > _CONTEXT_POSITION:
            extra = args[_CONTEXT_POSITION]
        mv = (extra or {}).get("mv")
        if not isinstance(mv, MultiViewContext) or mv.mode == "write":
            return None
        return self(output, mv.num_views)


def block_key(name: str) -> str:
    """A module path ("up_blocks.1.attentions.0.transformer_blocks.0") as a ModuleDict key
    (dots are not allowed there)."""
    return name.replace(".", "_")


def attach_view_sequence(unet: nn.Module, window: int = 0, cyclic: bool = False) -> nn.ModuleDict:
    """One ViewSequenceAttention per BasicTransformerBlock of `unet`, hooked after that block.

    Returns the blocks keyed by `block_key(module path)`; the caller must keep them as a submodule
    (so they train, move devices and save with it). The block width and heads are the transformer
    block's self-attention's. `copy.deepcopy` of a model holding both keeps the pairing, since
    each hook is a bound method of its block.
    """
    blocks = nn.ModuleDict()
    for name, module in unet.named_modules():
        if isinstance(module, BasicTransformerBlock):
            block = ViewSequenceAttention(module.attn1.query_dim, module.attn1.heads, window, cyclic)
            blocks[block_key(name)] = block
            module.register_forward_hook(block.after_block, with_kwargs=True)
    return blocks
