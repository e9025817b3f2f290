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

Generation can pass a ``KVCache`` to ``GPTModel.forward`` (notebook 05): each attention layer
then keeps the keys and values of the tokens it has already seen, so the next step only
feeds the new token instead of recomputing the whole sequence. Without a cache, ``forward``
is the book's computation unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import check_mask_size, validate_config
from .errors import ArgumentTypeError, ConfigError, InvalidInputError
from .validation import check_bool, check_instance, check_int, check_interval, short_repr


class LayerKVCache:
    """The keys and values one attention layer has computed so far, each ``(B, nh, T_past, hd)``.

    They are views of buffers with room for more tokens: each new token is written in place,
    where ``torch.cat`` would copy everything seen so far at every step.
    """

    def __init__(self, split_linears: dict | None = None) -> None:
        self.keys: torch.Tensor | None = None  # the first len(self) positions of the buffers
        self.values: torch.Tensor | None = None
        self.key_buffer: torch.Tensor | None = None  # (B, nh, capacity, hd)
        self.value_buffer: torch.Tensor | None = None
        self.split_linears = {} if split_linears is None else split_linears  # see one_token_linear

    def __len__(self) -> int:  # number of cached tokens
        return 0 if self.keys is None else self.keys.shape[2]

    def update(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new tokens' keys and values (``(B, nh, T_new, hd)``) and return all of them."""
        start, end = len(self), len(self) + keys.shape[2]
        if self.key_buffer is None or end > self.key_buffer.shape[2]:
            self._make_room(keys, values, end)  # new buffers with room for twice the tokens
        self.key_buffer[:, :, start:end] = keys  # written in place after the cached tokens
        self.value_buffer[:, :, start:end] = values
        self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]  # (B, nh, T_past + T_new, hd)
        return self.keys, self.values

    def _make_room(self, keys: torch.Tensor, values: torch.Tensor, num_tokens: int) -> None:
        """Buffers for ``2 * num_tokens`` positions (at least 64) that start with the cached keys and values."""
        b, nh, _, hd = keys.shape
        capacity = max(2 * num_tokens, 64)
        key_buffer, value_buffer = keys.new_empty(b, nh, capacity, hd), values.new_empty(b, nh, capacity, hd)
        if self.keys is not None:
            key_buffer[:, :, :len(self)] = self.keys
            value_buffer[:, :, :len(self)] = self.values
        self.key_buffer, self.value_buffer = key_buffer, value_buffer

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the batch rows ``rows`` (in that order); see ``KVCache.reorder``."""
        if self.keys is not None:
            num_tokens = len(self)
            self.key_buffer = self.key_buffer.index_select(0, rows)
            self.value_buffer = self.value_buffer.index_select(0, rows)
            self.keys, self.values = self.key_buffer[:, :, :num_tokens], self.value_buffer[:, :, :num_tokens]

    def one_token_step(self, x: torch.Tensor) -> bool:
        """True when ``x`` is one new token per row, ``(B, 1, d)``, after cached ones, on the CPU (see ``one_token_linear``)."""
        return len(self) > 0 and x.shape[1] == 1 and x.device.type == "cpu"


class KVCache:
    """A key/value cache for a whole ``GPTModel``: one ``LayerKVCache`` per transformer block.

    Positions are absolute (learned position embeddings), so a cache is only valid while the
    sequence fits in the context window; generation rebuilds it when the window slides.
    """

    def __init__(self, n_layers: int) -> None:
        check_int("n_layers", n_layers, 1, hint="Use model.new_kv_cache(), which knows the model's number of layers.")
        self.split_linears: dict[nn.Linear, SplitLinear] = {}  # shared by the layers; see one_token_linear
        self.layers = [LayerKVCache(self.split_linears) for _ in range(n_layers)]

    def __len__(self) -> int:  # tokens already seen = position of the next token
        return len(self.layers[0])

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the batch rows ``rows`` (in that order); beam search uses this to follow its beams."""
        for layer in self.layers:
            layer.reorder(rows)


class SplitLinear:
    """A linear layer's weight (and bias) seen as two halves, for ``one_token_linear``: views, nothing is copied."""

    def __init__(self, layer: nn.Linear) -> None:
        self.weight = layer.weight  # to notice a replaced weight
        n_out, n_in = layer.weight.shape
        half = (n_out + 1) // 2
        self.n_out, self.n_in = n_out, n_in
        self.step = n_out - half  # where the second half starts: half - 1 for an odd n_out (the halves share a row)
        self.halves_t = layer.weight.as_strided((2, half, n_in), (self.step * n_in, n_in, 1)).transpose(1, 2)  # (2, in, half)
        self.bias_halves = None if layer.bias is None else layer.bias.as_strided((2, 1, half), (self.step, 0, 1))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.n_in).expand(2, -1, -1)  # (2, B, in): both halves multiply the same rows
        if self.bias_halves is None:
            y = torch.bmm(rows, self.halves_t)  # (2, B, half)
        else:  # the bias, split the same way, is added inside the product
            y = torch.baddbmm(self.bias_halves, rows, self.halves_t)
        if rows.shape[1] == 1 and 2 * self.step == self.n_out:
            return y.view(*x.shape[:-1], self.n_out)  # one row: the two halves already lie side by side in memory
        return torch.cat((y[0, :, :self.step], y[1]), dim=-1).view(*x.shape[:-1], self.n_out)  # (B, 1, out)


def one_token_linear(layer: nn.Linear, x: torch.Tensor, split_linears: dict) -> torch.Tensor:
    """``layer(x)`` for one token per row, ``x`` ``(B, 1, in)``, reading the weight as two halves at once.

    Why: for one token a linear layer is a matrix-vector product, limited by how fast its
    ``(out, in)`` weight streams from memory, and on CPUs PyTorch reads one such product with
    one core. A batched product of the weight's two halves (rows ``[0, half)`` and the rest,
    ``SplitLinear``) keeps two cores reading (benchmarks/generation.py measures the speed).
    ``split_linears`` (the KV cache's) keeps each layer's halves for the whole generation. The
    result equals ``layer(x)`` up to float rounding.
    """
    if not isinstance(layer, nn.Linear):
        return layer(x)  # an Int8Linear (gptedu/quantize.py) has its own kernel
    split = split_linears.get(layer)
    if split is None or split.weight is not layer.weight:
        if not layer.weight.is_contiguous():
            return layer(x)  # the views need the weight's rows one after another
        split = split_linears[layer] = SplitLinear(layer)
    return split(x)


def _check_attention_args(d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int,
                          qkv_bias: bool) -> None:
    for name, value in (("d_in", d_in), ("d_out", d_out), ("context_length", context_length), ("num_heads", num_heads)):
        check_int(name, value, 1)
    if d_out % num_heads != 0:
        raise ConfigError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads}), so that every head gets "
                          "d_out // num_heads dimensions.")
    check_interval("dropout", dropout, 0, 1, high_open=True, hint="The seed uses 0.1; 0 switches dropout off.")
    check_bool("qkv_bias", qkv_bias)
    check_mask_size(context_length)  # the (context_length, context_length) mask below


def quick_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout with a mask drawn 16 random bits per element, four elements per 64-bit draw (fast path, CPUs).

    PyTorch's CPU dropout draws one random number per element, one at a time, which took about a
    quarter of a bf16 training step of the 124M model on a 2-core CPU. Here each element keeps its
    value (scaled by ``1 / (1 - p)``) when its 16 bits are at or above ``p`` of their range, so
    ``p`` is rounded to a multiple of 1/65536 (0.1 becomes 0.100006). The bits come from PyTorch's
    generator, so ``torch.manual_seed`` makes a run repeatable, but they are other numbers than
    ``nn.Dropout`` draws.
    """
    check_interval("p", p, 0, 1, high_open=True, hint="The seed drops with p=0.1.")
    if p == 0:
        return x
    num = x.numel()
    words = torch.empty((num + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, 2**63 - 1)
    bits = words.view(torch.int16)[:num].view(x.shape)  # uniform in [-32768, 32767]
    threshold = round(p * 65536) - 32768  # P(bits < threshold) = p
    return torch.where(bits >= threshold, x * (1.0 / (1.0 - p)), 0)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same behaviour, same printout), with ``quick_dropout`` on CPUs when ``quick`` is set.

    The fast path sets ``quick`` only when asked (``FastPath(quick_dropout=True)``): it changes the
    random numbers a run draws, so losses differ from a run without it.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.quick = False

    def uses_quick_mask(self, x: torch.Tensor) -> bool:
        """True if ``forward(x)`` draws its mask with ``quick_dropout`` (training, CPU, 0 < p < 1, ``quick`` set)."""
        return self.quick and self.training and x.device.type == "cpu" and 0 < self.p < 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uses_quick_mask(x):
            return quick_dropout(x, self.p)
        return super().forward(x)


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention with separate query, key and value projections."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        _check_attention_args(d_in, d_out, context_length, dropout, num_heads, qkv_bias)
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads  # each head attends in a d_out // num_heads subspace
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = Dropout(dropout)
        # 1 above the diagonal = "future" positions a token may not look at. Kept as a
        # (persistent) buffer because the book's state_dict contains it.
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))
        self.use_sdpa = True  # set False to always run the explicit path (for teaching and comparison)
        self.fused_dropout = False  # fast path (gptedu/fast_path.py): the fused kernel during training too

    def forward(self, x: torch.Tensor, kv_cache: LayerKVCache | None = None) -> torch.Tensor:
        if kv_cache is not None and len(kv_cache) > 0:
            return self._forward_with_past(x, kv_cache)
        b, num_tokens, _ = x.shape  # (B, T, d_in)
        # (B, T, d_out) -> (B, T, nh, hd) -> (B, nh, T, hd): one slice per head
        queries = self.W_query(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = self.W_key(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = self.W_value(x).view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        dropout_active = self.training and self.dropout.p > 0
        if kv_cache is not None:
            kv_cache.update(keys, values)  # first call (the prompt): remember its keys and values
        if self.use_sdpa and not dropout_active:
            # Fused kernel: same result as the explicit path below, less memory.
            context_vec = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)  # (B, nh, T, hd)
        elif self.use_sdpa and self.fused_dropout and not self.dropout.uses_quick_mask(queries):
            # Fast path: the kernel drops attention weights too. On CPUs it draws the same random
            # numbers as the explicit path (tests/test_fast_path.py); CUDA's kernels draw their own.
            # With quick dropout on a CPU the explicit path below is faster: the kernel's dropout is slow there.
            context_vec = F.scaled_dot_product_attention(queries, keys, values, is_causal=True,
                                                         dropout_p=self.dropout.p)  # (B, nh, T, hd)
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

    def _forward_with_past(self, x: torch.Tensor, kv_cache: LayerKVCache) -> torch.Tensor:
        """Attention of ``T_new`` new tokens over the cached tokens and themselves (no dropout: generation)."""
        b, num_new, _ = x.shape  # (B, T_new, d_in)
        queries, keys, values = (
            layer(x).view(b, num_new, self.num_heads, self.head_dim).transpose(1, 2)
            for layer in (self.W_query, self.W_key, self.W_value)
        )  # each (B, nh, T_new, hd)
        num_past = len(kv_cache)
        keys, values = kv_cache.update(keys, values)  # (B, nh, T_past + T_new, hd)
        if num_new == 1:
            mask = None  # the newest token may look at every earlier token: nothing to hide
        else:  # new token i sits at position num_past + i: it may not see the positions after it
            mask = ~self.mask.bool()[num_past:num_past + num_new, :num_past + num_new]  # True = may attend
        context_vec = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)  # (B, nh, T_new, hd)
        context_vec = context_vec.transpose(1, 2).reshape(b, num_new, self.d_out)
        return self.out_proj(context_vec)


class LayerNorm(nn.Module):
    """Normalise each token's vector to mean 0 and variance 1, then scale and shift (learned)."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        check_int("emb_dim", emb_dim, 1)
        self.eps = 1e-5  # keeps the division finite when the variance is 0
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        self.fused = False  # fast path: PyTorch's one-kernel layer_norm (same formula, other rounding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.layer_norm(x, x.shape[-1:], self.scale, self.shift, self.eps)
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # biased, as GPT-2 and the book
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.scale * norm_x + self.shift


class GELU(nn.Module):
    """GELU activation, with the tanh approximation GPT-2 was trained with."""

    def __init__(self) -> None:
        super().__init__()
        self.fused = False  # fast path: one kernel instead of seven elementwise operations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.gelu(x, approximate="tanh")
        return 0.5 * x * (1 + torch.tanh(
            torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))
        ))


class FeedForward(nn.Module):
    """Position-wise MLP: emb_dim -> 4 * emb_dim -> GELU -> emb_dim."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(cfg, dict) or "emb_dim" not in cfg:
            raise ConfigError(f"FeedForward needs a config dict with 'emb_dim', like GPT_CONFIG_124M; got {short_repr(cfg)}.")
        check_int("cfg['emb_dim']", cfg["emb_dim"], 1)
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
        validate_config(cfg)
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
        self.drop_shortcut = Dropout(cfg["drop_rate"])

    def forward(self, x: torch.Tensor, kv_cache: LayerKVCache | None = None) -> torch.Tensor:  # (B, T, emb_dim) -> same
        if kv_cache is not None and kv_cache.one_token_step(x):
            return self._one_token(x, kv_cache)  # generation on a CPU: the same block, in fewer steps
        x = x + self.drop_shortcut(self.att(self.norm1(x), kv_cache))  # shortcut around attention
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # shortcut around the MLP
        return x

    def _one_token(self, x: torch.Tensor, kv_cache: LayerKVCache) -> torch.Tensor:
        """``forward`` for one new token per row, ``(B, 1, emb_dim)``, after cached ones (generation, no dropout).

        The same computation, arranged for speed: a single token's step is limited by reading the
        weights from memory (``one_token_linear``), so everything else is done in as few operations
        as possible: fused layer norm and GELU, and the fused attention kernel without a mask (the
        one query may see every cached token).
        """
        att, ff, b = self.att, self.ff, x.shape[0]
        h = F.layer_norm(x, x.shape[-1:], self.norm1.scale, self.norm1.shift, self.norm1.eps)
        split = kv_cache.split_linears
        queries, keys, values = (one_token_linear(layer, h, split).view(b, att.num_heads, 1, att.head_dim)
                                 for layer in (att.W_query, att.W_key, att.W_value))  # each (B, nh, 1, hd)
        keys, values = kv_cache.update(keys, values)  # (B, nh, T, hd)
        context = F.scaled_dot_product_attention(queries, keys, values)  # (B, nh, 1, hd); no mask: all are in the past
        x = x + one_token_linear(att.out_proj, context.view(b, 1, att.d_out), split)
        h = F.layer_norm(x, x.shape[-1:], self.norm2.scale, self.norm2.shift, self.norm2.eps)
        hidden = F.gelu(one_token_linear(ff.layers[0], h, split), approximate="tanh")  # (B, 1, 4 * emb_dim)
        return x + one_token_linear(ff.layers[2], hidden, split)


class GPTModel(nn.Module):
    """GPT: token + position embeddings, ``n_layers`` transformer blocks, final norm, output head.

    ``GPTModel(GPT_CONFIG_124M)`` builds the book's 124M-parameter model (162,419,712 counting
    the untied output head; 163,009,536 with the original context of 1024). ``forward`` maps ``(batch, num_tokens)`` token IDs to
    ``(batch, num_tokens, vocab_size)`` logits.
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        validate_config(cfg)
        self.cfg = dict(cfg)
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        self.autocast_dtype: torch.dtype | None = None  # fast path: torch.bfloat16 or float16 runs matmuls in it
        self.loss_scaler = None  # fast path in float16: a LossScaler (gptedu/loss_scaling.py)

    def forward(self, in_idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Logits ``(B, T, vocab_size)`` for token IDs ``(B, T)``.

        With a ``kv_cache`` (from ``new_kv_cache()``), ``in_idx`` holds only the tokens the cache
        has not seen yet: they are placed after the cached ones and the cache is extended.
        """
        num_past = 0 if kv_cache is None else len(kv_cache)
        self._check_input(in_idx, num_past)
        if self.autocast_dtype is not None and kv_cache is None:
            # Fast path (gptedu/fast_path.py) for training and evaluation; logits back in fp32 for the loss.
            # Cached generation stays fp32: one token at a time is limited by memory, not arithmetic.
            with torch.autocast(in_idx.device.type, dtype=self.autocast_dtype):
                logits = self._forward(in_idx, kv_cache, num_past).float()
            return logits if self.loss_scaler is None else self.loss_scaler.scale_gradient(logits)
        return self._forward(in_idx, kv_cache, num_past)

    def _forward(self, in_idx: torch.Tensor, kv_cache: KVCache | None, num_past: int) -> torch.Tensor:
        batch_size, seq_len = in_idx.shape  # (B, T)
        tok_embeds = self.tok_emb(in_idx)  # (B, T, emb_dim)
        positions = torch.arange(num_past, num_past + seq_len, device=in_idx.device)  # after the cached tokens
        pos_embeds = self.pos_emb(positions)  # (T, emb_dim)
        x = self.drop_emb(tok_embeds + pos_embeds)  # broadcast over the batch
        if kv_cache is None:
            x = self.trf_blocks(x)
            return self.out_head(self.final_norm(x))  # (B, T, vocab_size)
        one_token = kv_cache.layers[0].one_token_step(x)  # generation on a CPU: the same blocks, in fewer steps
        for block, layer_cache in zip(self.trf_blocks, kv_cache.layers, strict=True):
            x = block._one_token(x, layer_cache) if one_token else block(x, layer_cache)
        if one_token:
            norm = self.final_norm
            return one_token_linear(self.out_head, F.layer_norm(x, x.shape[-1:], norm.scale, norm.shift, norm.eps),
                                    kv_cache.split_linears)
        return self.out_head(self.final_norm(x))  # (B, T, vocab_size)

    def new_kv_cache(self) -> KVCache:
        """An empty key/value cache for this model (see ``forward``)."""
        return KVCache(len(self.trf_blocks))

    def _check_input(self, in_idx: torch.Tensor, num_past: int = 0) -> None:
        if not isinstance(in_idx, torch.Tensor):
            raise ArgumentTypeError(
                f"GPTModel expects a tensor of token IDs of shape (batch, num_tokens); got {short_repr(in_idx)} "
                f"({type(in_idx).__name__}). For one text use text_to_token_ids(text, tokenizer)."
            )
        if in_idx.dim() != 2:
            raise InvalidInputError(
                f"GPTModel expects token IDs of shape (batch, num_tokens); got {tuple(in_idx.shape)}. "
                "For one text use text_to_token_ids(text, tokenizer), which adds the batch dimension."
            )
        if in_idx.dtype not in (torch.int64, torch.int32):
            raise InvalidInputError(f"Token IDs must be integers (torch.long); got dtype {in_idx.dtype}. "
                                    "text_to_token_ids returns them so; convert with .long().")
        seq_len, context_length = in_idx.shape[1], self.pos_emb.num_embeddings
        if in_idx.shape[0] == 0:
            raise InvalidInputError(f"The batch has no rows (shape {tuple(in_idx.shape)}): give the model at least one "
                                    "sequence. Was a loader or a slice empty?")
        if seq_len == 0:
            raise InvalidInputError("The input has no tokens: give the model at least one token ID "
                                    f"(got shape {tuple(in_idx.shape)}; was the prompt an empty string?).")
        if num_past and num_past + seq_len > context_length:
            raise InvalidInputError(
                f"The KV cache holds {num_past} tokens; {seq_len} more exceed the model's context_length "
                f"{context_length}. Start a new cache from the last {context_length} tokens."
            )
        if seq_len > context_length:
            raise InvalidInputError(
                f"The input has {seq_len} tokens but the model's context_length is {context_length}. "
                f"Keep only the last {context_length} tokens: in_idx[:, -{context_length}:]."
            )
        low, high = int(in_idx.min()), int(in_idx.max())
        if low < 0 or high >= self.tok_emb.num_embeddings:
            raise InvalidInputError(
                f"Token IDs must lie in [0, {self.tok_emb.num_embeddings - 1}] (vocab_size "
                f"{self.tok_emb.num_embeddings}); got values from {low} to {high}. Was the text encoded "
                "with a different tokenizer?"
            )


def model_context_length(model: nn.Module) -> int | None:
    """The number of positions ``model`` has (``pos_emb``'s size: ``cfg["context_length"]``), or None if unknown."""
    pos_emb = getattr(model, "pos_emb", None)
    return pos_emb.num_embeddings if isinstance(pos_emb, nn.Embedding) else None


def model_vocab_size(model: nn.Module) -> int | None:
    """The number of logits ``model`` returns per position (its ``vocab_size``), or None if unknown."""
    out_head, tok_emb = getattr(model, "out_head", None), getattr(model, "tok_emb", None)
    if isinstance(out_head, nn.Linear):
        return out_head.out_features
    return tok_emb.num_embeddings if isinstance(tok_emb, nn.Embedding) else None


def count_parameters(model: nn.Module, tied_output_head: bool = False) -> int:
    """Count a model's parameters; ``tied_output_head=True`` counts the output head as shared with ``tok_emb``.

    GPT-2 reuses the token embedding as output layer, which is why "124M" counts 124,439,808
    parameters while the book's untied model (context 1024) has 163,009,536. A model whose
    head already shares the embedding's tensor is counted correctly either way.
    """
    check_instance("model", model, nn.Module, "a torch model such as GPTModel(cfg)")
    check_bool("tied_output_head", tied_output_head)
    total = sum(p.numel() for p in model.parameters())  # a shared (tied) tensor is listed once
    # an int8 copy (quantize_int8) keeps its linear layers' numbers as buffers: they count all the same
    total += sum(m.weight_int8.numel() + (0 if m.bias is None else m.bias.numel())
                 for m in model.modules() if hasattr(m, "weight_int8"))
    already_tied = hasattr(model, "out_head") and getattr(model.out_head, "weight", None) is model.tok_emb.weight
    if tied_output_head and hasattr(model, "out_head") and not already_tied:
        total -= model.out_head.out_features * model.out_head.in_features
    return total
