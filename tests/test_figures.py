"""gptedu.figures: the concept figures of notebooks 01 and 03 draw exactly the tokens and windows they are given."""

import matplotlib.pyplot as plt
import pytest

from gptedu.figures import plot_sliding_windows, plot_token_pieces, plot_train_val_split


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_token_pieces_draws_one_box_per_token_with_its_piece_and_id(tokenizer):
    ids = tokenizer.encode("Hello, do you like tea?")
    fig = plot_token_pieces(ids, tokenizer)
    (ax,) = fig.axes
    assert len(ax.patches) == len(ids) == 7
    drawn = texts(ax)
    assert drawn[0::2] == ["Hello", ",", "␣do", "␣you", "␣like", "␣tea", "?"]  # spaces shown as ␣
    assert drawn[1::2] == [str(i) for i in ids]
    assert ax.get_title().startswith("7 tokens") and ax.get_xlabel()
    plt.close(fig)


def test_token_pieces_wraps_long_texts_and_rejects_no_tokens(tokenizer):
    fig = plot_token_pieces(tokenizer.encode("word " * 40), tokenizer, chars_per_line=30)
    heights = {round(p.get_y(), 3) for p in fig.axes[0].patches}
    assert len(heights) > 3  # several lines of boxes
    plt.close(fig)
    with pytest.raises(ValueError, match="token_ids is empty"):
        plot_token_pieces([], tokenizer)


def test_sliding_windows_draws_the_seeds_windows_for_each_stride():
    ids = list(range(100, 120))
    fig = plot_sliding_windows(ids, max_length=4, strides=(1, 4), num_windows=4)
    left, right = fig.axes
    assert left.get_title() == "max_length=4, stride=1" and right.get_title() == "max_length=4, stride=4"
    # each window: 4 inputs + the one token its shifted targets reach; rows start at i * stride
    assert texts(left)[:5] == ["100", "101", "102", "103", "104"] and texts(left)[5:10] == ["101", "102", "103", "104", "105"]
    assert texts(right)[5:10] == ["104", "105", "106", "107", "108"]
    assert len(right.patches) == 4 * 5
    assert left.get_xlabel() == right.get_xlabel() == "Position in the text (token index)"
    assert left.get_xlim() == right.get_xlim()
    plt.close(fig)


def test_sliding_windows_stops_where_the_seed_does():
    fig = plot_sliding_windows(list(range(8)), max_length=4, strides=(4,), num_windows=10)
    assert len(fig.axes[0].patches) == 5  # 8 tokens give 1 window: range(0, 8 - 4, 4)
    plt.close(fig)
    with pytest.raises(ValueError, match="stride"):
        plot_sliding_windows(list(range(8)), max_length=4, strides=(0,))


def test_train_val_split_draws_the_windows_of_each_part():
    fig = plot_train_val_split(4612, 534, context_length=256, batch_size=2)
    (ax,) = fig.axes
    labels = texts(ax)
    assert labels == ["training: 4,612 tokens, 18 windows of 256", "validation: 534 tokens, 2 windows of 256"]
    assert len(ax.patches) == 2 + 18 + 2  # each part's outline + its windows
    assert ax.get_xlabel() == "Token position in the story" and ax.get_title()
    plt.close(fig)
    fig = plot_train_val_split(4612, 534, context_length=256, batch_size=4)  # 18 windows: 2 dropped by drop_last
    assert "16 windows" in texts(fig.axes[0])[0]
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        plot_train_val_split(0, 534, 256)


# ---------------------------------------------------------------- notebook 06: what a checkpoint file holds
# Imported here, not at the top: several lessons append their tests to this file at once.
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from gptedu import ChecksumError, ConfigError, DataNotFoundError, GPTModel, save_checkpoint, save_model  # noqa: E402
from gptedu.figures import CHECKPOINT_PARTS, checkpoint_contents, plot_checkpoint_contents  # noqa: E402

TINY_CFG = {"vocab_size": 97, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
            "qkv_bias": False}


@pytest.fixture
def saved_files(tmp_path):
    """A checkpoint of a tiny GPT after one AdamW step (every weight has both moments) and its save_model file."""
    torch.manual_seed(0)
    model = GPTModel(TINY_CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.001)
    ids = torch.randint(0, 97, (2, 8))
    torch.nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten()).backward()
    optimizer.step()
    checkpoint = save_checkpoint(tmp_path / "checkpoint.safetensors", model, optimizer,
                                 progress={"step": 0, "step_losses": [4.6]})
    weights = save_model(model, tmp_path / "model.safetensors", verbose=False)
    return checkpoint, weights, model


def tensor_bytes(path, keep):
    return sum(t.numel() * t.element_size() for name, t in load_file(str(path)).items() if keep(name))


def test_checkpoint_contents_are_the_files_tensors_and_header(saved_files):
    checkpoint, weights, model = saved_files
    parts = checkpoint_contents(checkpoint)
    assert list(parts) == list(CHECKPOINT_PARTS)
    assert sum(parts.values()) == checkpoint.stat().st_size  # every byte of the file is in one part
    params = sum(p.numel() * 4 for p in model.parameters())  # float32, the untied head counted once as itself
    assert parts["model weights"] == tensor_bytes(checkpoint, lambda n: n.startswith("model.")) == params
    assert parts["AdamW exp_avg"] == tensor_bytes(checkpoint, lambda n: n.endswith(".exp_avg")) == params
    assert parts["AdamW exp_avg_sq"] == tensor_bytes(checkpoint, lambda n: n.endswith(".exp_avg_sq")) == params
    assert parts["optimizer step counts"] == tensor_bytes(checkpoint, lambda n: n.endswith(".step")) > 0
    assert parts["random-number states"] == tensor_bytes(checkpoint, lambda n: "rng." in n) > 0
    header_length = int.from_bytes(checkpoint.read_bytes()[:8], "little")
    assert parts["header (config, progress, losses)"] == 8 + header_length
    only_weights = checkpoint_contents(weights)
    assert only_weights["model weights"] == params and sum(only_weights.values()) == weights.stat().st_size
    assert [only_weights[p] for p in CHECKPOINT_PARTS[1:5]] == [0, 0, 0, 0]


def test_checkpoint_figure_draws_the_measured_sizes(saved_files):
    checkpoint, weights, _ = saved_files
    fig = plot_checkpoint_contents(checkpoint, weights)
    (ax,) = fig.axes
    bars = sorted(ax.patches, key=lambda bar: (bar.get_y(), bar.get_x()))
    expected = [size / 1e6 for parts in (checkpoint_contents(checkpoint), checkpoint_contents(weights))
                for size in parts.values() if size]
    assert [bar.get_width() for bar in bars] == pytest.approx(expected, rel=1e-12)
    top = [bar for bar in bars if bar.get_y() == bars[0].get_y()]  # the checkpoint's bar is as long as its file
    assert top[-1].get_x() + top[-1].get_width() == pytest.approx(checkpoint.stat().st_size / 1e6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["checkpoint.safetensors", "model.safetensors"]
    ratio = checkpoint.stat().st_size / weights.stat().st_size
    assert ax.get_title().startswith(f"checkpoint.safetensors is {ratio:.1f} × model.safetensors")
    assert ax.get_xlabel().startswith("Size on disk (MB")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 6 and labels[0].startswith("model weights: ")
    plt.close(fig)


def test_checkpoint_contents_explains_bad_files(tmp_path, saved_files):
    checkpoint, _, _ = saved_files
    with pytest.raises(DataNotFoundError, match="No such file"):
        checkpoint_contents(tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match=r"\.safetensors files.*'model\.pth'"):
        checkpoint_contents(tmp_path / "model.pth")
    half = tmp_path / "half.safetensors"
    half.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(ChecksumError, match="half.safetensors.*truncated or corrupted"):
        checkpoint_contents(half)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(ChecksumError, match="not a readable safetensors file"):
        checkpoint_contents(garbage)


def gpt2_file_shapes(model, folder):
    """The tensor names and shapes of the GPT-2 file ``export_to_hf`` writes for ``model``, plus its masks."""
    from safetensors import safe_open

    from gptedu import export_to_hf

    export_to_hf(model, folder)
    with safe_open(str(folder / "model.safetensors"), framework="pt") as file:
        shapes = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
    n = model.cfg["context_length"]
    return shapes | {f"h.{i}.attn.bias": (1, 1, n, n) for i in range(model.cfg["n_layers"])}  # as published files store


def test_gpt2_weight_map_draws_each_tensor_its_shape_and_where_it_goes(tmp_path):
    from matplotlib.text import Annotation

    from gptedu import GPTModel
    from gptedu.figures import plot_gpt2_weight_map

    cfg = {"vocab_size": 20, "context_length": 8, "emb_dim": 8, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
    model = GPTModel(cfg)
    model.out_head.weight = model.tok_emb.weight
    model_shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    fig = plot_gpt2_weight_map(gpt2_file_shapes(model, tmp_path), model_shapes, block=1)
    (ax,) = fig.axes
    boxes = {t.get_text(): t.get_position()[1] for t in ax.texts if not isinstance(t, Annotation)}
    for label in ("attn.c_attn.weight  (8, 24)", "attn.c_attn.bias  (24,)", "mlp.c_fc.weight  (8, 32)", "ln_2.bias  (8,)",
                  "att.W_query.weight  (8, 8)", "att.W_value.bias  (8,)", "ff.layers.0.weight  (32, 8)", "norm2.shift  (8,)",
                  "attn.bias  (1, 1, 8, 8)"):
        assert label in boxes, label  # the block prefix h.1. / trf_blocks.1. is dropped from the labels
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == 16  # 12 GPT-2 tensors fill 16 parameters: c_attn's weight and bias fill three each
    transposed = sorted(next(label for label, y in boxes.items() if y == a.xy[1] and label.startswith(("att.", "ff.")))
                        for a in arrows if a.get_gid() == "transposed")
    assert transposed == ["att.W_key.weight  (8, 8)", "att.W_query.weight  (8, 8)", "att.W_value.weight  (8, 8)",
                          "att.out_proj.weight  (8, 8)", "ff.layers.0.weight  (32, 8)", "ff.layers.2.weight  (8, 32)"]
    c_attn_y = boxes["attn.c_attn.weight  (8, 24)"]
    assert sorted(a.xy[1] for a in arrows if a.xyann[1] == c_attn_y and a.get_gid() == "transposed") == sorted(
        boxes[f"att.{p}.weight  (8, 8)"] for p in ("W_query", "W_key", "W_value"))  # the split: one arrow to each
    assert ax.get_title() == "How block 1 of GPT-2's weights fills trf_blocks[1] of GPTModel (12 tensors → 16 parameters)"
    assert any("skipped" in label for label in boxes)
    plt.close(fig)


def test_gpt2_weight_map_refuses_a_block_or_bias_the_model_lacks(tmp_path):
    from gptedu import GPTModel
    from gptedu.errors import ConfigError
    from gptedu.figures import plot_gpt2_weight_map

    cfg = {"vocab_size": 20, "context_length": 8, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0, "qkv_bias": True}
    model = GPTModel(cfg)
    model.out_head.weight = model.tok_emb.weight
    shapes = gpt2_file_shapes(model, tmp_path)
    with pytest.raises(ConfigError, match="block 1: no shape for h.1.attn.c_attn.weight"):
        plot_gpt2_weight_map(shapes, {name: tuple(p.shape) for name, p in model.named_parameters()}, block=1)
    no_bias = GPTModel({**cfg, "qkv_bias": False})
    with pytest.raises(ConfigError, match="trf_blocks.0.att.W_query.bias.*qkv_bias=True"):
        plot_gpt2_weight_map(shapes, {name: tuple(p.shape) for name, p in no_bias.named_parameters()})


# --- notebook 05: the causal mask on real attention weights, the KV cache growing ---------------------

from gptedu import generate_text, get_tokenizer, text_to_token_ids  # noqa: E402
from gptedu.figures import causal_attention_weights, kv_cache_growth, plot_causal_mask_and_kv_cache  # noqa: E402


@pytest.fixture(scope="module")
def small_gpt():
    torch.manual_seed(0)
    cfg = {"vocab_size": 50257, "context_length": 16, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
           "qkv_bias": True}
    return GPTModel(cfg).eval()


def test_causal_attention_weights_are_the_layers_own_and_never_look_ahead(small_gpt):
    ids = torch.tensor([[464, 2068, 7586, 21831, 18045]])  # (1, 5)
    weights = causal_attention_weights(small_gpt, ids, layer=1, head=1)  # (5, 5)
    assert weights.shape == (5, 5)
    assert torch.equal(weights.triu(diagonal=1), torch.zeros(5, 5))  # exactly 0 above the diagonal
    assert torch.allclose(weights.sum(dim=-1), torch.ones(5))
    # the same weights times the layer's values reproduce what the real attention layer outputs for that head
    att = small_gpt.trf_blocks[1].att
    with torch.no_grad():
        x = small_gpt.trf_blocks[0](small_gpt.tok_emb(ids) + small_gpt.pos_emb(torch.arange(5)))
        x = small_gpt.trf_blocks[1].norm1(x)
        values = att.W_value(x).view(1, 5, att.num_heads, att.head_dim)  # (1, T, nh, hd)
        all_heads = torch.stack([causal_attention_weights(small_gpt, ids, 1, h) @ values[0, :, h] for h in range(2)], 1)
        expected = att(x)  # (1, T, d)
    assert torch.allclose(att.out_proj(all_heads.reshape(1, 5, -1)), expected, atol=1e-5)


def test_causal_attention_weights_refuse_a_layer_the_model_lacks(small_gpt):
    with pytest.raises(ConfigError, match="layer must be an integer between 0 and 1; got 2"):
        causal_attention_weights(small_gpt, torch.tensor([[1, 2]]), layer=2)


def test_kv_cache_grows_one_token_per_call_and_gives_greedy_text(small_gpt):
    prompt = torch.tensor([[464, 2068, 7586]])
    ids, lengths = kv_cache_growth(small_gpt, prompt, new_tokens=4)
    assert lengths == [3, 4, 5, 6]  # the prompt's 3 tokens, then one more per call
    greedy = generate_text(small_gpt, prompt, max_new_tokens=4, context_size=16, use_cache=False)
    assert ids == greedy[0].tolist()


def test_causal_mask_and_kv_cache_figure_draws_what_the_model_computed(small_gpt):
    tokenizer = get_tokenizer()
    prompt = text_to_token_ids("Every effort moves you", tokenizer)  # (1, 4)
    fig = plot_causal_mask_and_kv_cache(small_gpt, prompt, tokenizer, new_tokens=3)
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_title().startswith("1. Causal mask") and left.get_xlabel() and left.get_ylabel()
    assert right.get_title().startswith("2. KV cache") and right.get_xlabel() and right.get_ylabel()
    assert sum(t.get_text() == "masked" for t in left.texts) == 6  # 4 tokens: 3 + 2 + 1 cells above the diagonal
    orange = [p for p in right.patches if p.get_facecolor()[:3] == plt.matplotlib.colors.to_rgb("tab:orange")]
    assert len(orange) == 4 + 1 + 1  # the prompt's 4 tokens, then one new token per call
    assert [t.get_text() for t in right.texts] == ["computed 4, cached 0", "computed 1, cached 4", "computed 1, cached 5"]
    plt.close(fig)
