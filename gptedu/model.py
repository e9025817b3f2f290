"""The GPT model of the book: attention, layer norm, GELU, feed-forward, blocks and ``GPTModel``.

The parameter names and shapes are the seed's, so ``model.state_dict()`` from the book's
code loads into ``GPTModel`` and back unchanged (tests/test_model.py checks this, and that
the logits agree with the book's implementation within 1e-5).

One fast path with its reason: when no dropout is active (``model.eval()`` or
``drop_rate=0``), attention runs through ``torch.nn.functional.scaled_dot_product_attention``,
which computes the same softmax(QK^T / sqrt(d)) V without building the full attention
matrix. During training with dropout it uses the seed's explicit mask-softmax-dropout-matmul,
so dropout falls on the attention weights exactly as in the book and a training run draws
the same random numbers as the book's code.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import validate_config
from .errors import ConfigError


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention with separate query, key and value projections."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        if d_out % num_heads != 0:
            raise ConfigError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads}).")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads  # each head attends in a d_out // num_heads subspace
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = nn.Dropout(dropout)
        # 1 above the diagonal = "future" positions a token may not look at. Kept as a
        # (persistent) buffer because the book's state_dict contains it.
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))
        self.use_sdpa = True  # set False to always run the explicit path (for teaching and comparison)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, num_tokens, _ = x.shape  # (B, T, d_in)
        # (B, T, d_out) -> (B, T, nh, hd) -> (B, nh, T, hd): one slice per head
        queries = self.W_query(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = self.W_key(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = self.W_value(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        dropout_active = self.training and self.dropout.p > 0
        if self.use_sdpa and not dropout_active:
            # Fused kernel: same result as the explicit path below, less memory.
            context_vec = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)  # (B, nh, T, hd)
        else:
            attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)
            mask_bool = self.mask.bool()[:num_tokens, :num_tokens]
            attn_scores.masked_fill_(mask_bool, -torch.inf)  # no attending to the future
            attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
            attn_weights = self.dropout(attn_weights)  # the book drops attention weights
            context_vec = attn_weights @ values  # (B, nh, T, hd)

        # (B, nh, T, hd) -> (B, T, nh, hd) -> (B, T, d_out): heads side by side again
        context_vec = context_vec.transpose(1, 2).reshape(b, num_tokens, self.d_out)
        return self.out_proj(context_vec)


class LayerNorm(nn.Module):
    """Normalise each token's vector to mean 0 and variance 1, then scale and shift (learned)."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.eps = 1e-5  # keeps the division finite when the variance is 0
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # biased, as GPT-2 and the book
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.scale * norm_x + self.shift


class GELU(nn.Module):
    """GELU activation, with the tanh approximation GPT-2 was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1 + torch.tanh(
            torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))
        ))


class FeedForward(nn.Module):
    """Position-wise MLP: emb_dim -> 4 * emb_dim -> GELU -> emb_dim."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]),
            GELU(),
            nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],
            context_length=cfg["context_length"],
            num_heads=cfg["n_heads"],
            dropout=cfg["drop_rate"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, emb_dim) -> same
        x = x + self.drop_shortcut(self.att(self.norm1(x)))  # shortcut around attention
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # shortcut around the MLP
        return x


class GPTModel(nn.Module):
    """GPT: token + position embeddings, ``n_layers`` transformer blocks, final norm, output head.

    ``GPTModel(GPT_CONFIG_124M)`` builds the book's 124M-parameter model (163M counting
    the untied output head). ``forward`` maps ``(batch, num_tokens)`` token IDs to
    ``(batch, num_tokens, vocab_size)`` logits.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        validate_config(cfg)
        self.cfg = dict(cfg)
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        self._check_input(in_idx)
        batch_size, seq_len = in_idx.shape  # (B, T)
        tok_embeds = self.tok_emb(in_idx)  # (B, T, emb_dim)
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))  # (T, emb_dim)
        x = self.drop_emb(tok_embeds + pos_embeds)  # broadcast over the batch
        x = self.trf_blocks(x)
        x = self.final_norm(x)
        return self.out_head(x)  # (B, T, vocab_size)

    def _check_input(self, in_idx: torch.Tensor) -> None:
        if not isinstance(in_idx, torch.Tensor) or in_idx.dim() != 2:
            shape = tuple(in_idx.shape) if isinstance(in_idx, torch.Tensor) else type(in_idx).__name__
            raise ValueError(
                f"GPTModel expects token IDs of shape (batch, num_tokens); got {shape}. "
                "For one text use text_to_token_ids(text, tokenizer), which adds the batch dimension."
            )
        if in_idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"Token IDs must be integers (torch.long); got dtype {in_idx.dtype}.")
        seq_len, context_length = in_idx.shape[1], self.pos_emb.num_embeddings
        if seq_len == 0:
            raise ValueError("The input has no tokens: give the model at least one token ID.")
        if seq_len > context_length:
            raise ValueError(
                f"The input has {seq_len} tokens but the model's context_length is {context_length}. "
                f"Keep only the last {context_length} tokens: in_idx[:, -{context_length}:]."
            )
        low, high = int(in_idx.min()), int(in_idx.max())
        if low < 0 or high >= self.tok_emb.num_embeddings:
            raise ValueError(
                f"Token IDs must lie in [0, {self.tok_emb.num_embeddings - 1}] (vocab_size "
                f"{self.tok_emb.num_embeddings}); got values from {low} to {high}. Was the text encoded "
                "with a different tokenizer?"
            )


def count_parameters(model: nn.Module, tied_output_head: bool = False) -> int:
    """Count a model's parameters; ``tied_output_head=True`` counts the output head as shared with ``tok_emb``.

    GPT-2 reuses the token embedding as output layer, which is why "124M" counts 124,439,808
    parameters while the book's untied model (context 1024) has 163,009,536. A model whose
    head already shares the embedding's tensor is counted correctly either way.
    """
    total = sum(p.numel() for p in model.parameters())  # a shared (tied) tensor is listed once
    already_tied = hasattr(model, "out_head") and model.out_head.weight is model.tok_emb.weight
    if tied_output_head and hasattr(model, "out_head") and not already_tied:
        total -= model.out_head.weight.numel()
    return total
