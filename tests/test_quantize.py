"""gptedu.quantize: int8 weights for generation, against the float computation they stand for.

References: ``F.linear`` with the dequantized weight (``scale * weight_int8``), and the float32
model the copy was made from (its logits, its loss on the-verdict, its greedy tokens).
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import gptedu
from gptedu import GPTModel, calc_loss_loader, generate_text, quantize_int8, train_val_loaders
from gptedu.quantize import Int8Linear, int8_kernel_available

CFG = {"vocab_size": 50257, "context_length": 64, "emb_dim": 48, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}


def dequantized(layer: Int8Linear) -> torch.Tensor:
    return layer.scale[:, None] * layer.weight_int8.float()


def test_each_weight_moves_by_at_most_half_a_step_of_its_rows_scale():
    torch.manual_seed(0)
    linear = nn.Linear(64, 40)
    linear.weight.data[3] *= 100  # a row with a large range gets its own, coarser step
    layer = Int8Linear(linear)
    error = (dequantized(layer) - linear.weight).abs()
    assert layer.weight_int8.dtype == torch.int8 and layer.scale.shape == (40,)
    assert torch.all(error <= layer.scale[:, None] / 2 + 1e-7)
    assert layer.weight_int8.abs().amax(dim=1).eq(127).all()  # every row's largest weight uses the full range


@pytest.mark.parametrize("in_features", [16, 48, 768, 3072])
@pytest.mark.parametrize("rows", [1, 5])
def test_the_int8_kernel_computes_the_dequantized_product(in_features, rows):
    torch.manual_seed(1)
    linear = nn.Linear(in_features, 96)
    layer = Int8Linear(linear)
    x = torch.randn(rows, 1, in_features)
    assert layer.uses_int8_kernel(x) == int8_kernel_available()
    expected = F.linear(x, dequantized(layer), linear.bias.detach())
    got = layer(x)
    assert got.shape == (rows, 1, 96) and got.dtype == torch.float32
    # the activations are multiplied in bf16 (8 significant bits): a relative error of a few 1e-3
    assert torch.allclose(got, expected, rtol=0, atol=1e-2 * expected.abs().max().item())


@pytest.mark.parametrize("in_features", [8, 33, 1])
def test_widths_the_kernel_gets_wrong_take_the_plain_way_and_are_exact(in_features):
    """PyTorch 2.13's int8 kernel returned wrong numbers for 8 input features without an error."""
    torch.manual_seed(2)
    linear = nn.Linear(in_features, 20, bias=False)
    layer = Int8Linear(linear)
    x = torch.randn(3, in_features)
    assert not layer.uses_int8_kernel(x)
    assert torch.allclose(layer(x), F.linear(x, dequantized(layer)), atol=1e-6)


def test_quantize_int8_replaces_every_linear_layer_of_a_copy_and_leaves_the_model_alone():
    torch.manual_seed(3)
    model = GPTModel(CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized = quantize_int8(model)
    assert not any(isinstance(m, nn.Linear) for m in quantized.modules())
    assert sum(isinstance(m, Int8Linear) for m in quantized.modules()) == 6 * CFG["n_layers"] + 1  # q, k, v, out, 2 MLP; head
    assert not quantized.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is untouched
    assert all(isinstance(m, nn.Linear) for m in (model.out_head, model.trf_blocks[0].att.W_query))


@pytest.fixture(scope="module")
def trained(verdict):
    """A small model trained for a few epochs on the-verdict, so that its next-token choices are not near-ties."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    train_loader, val_loader = train_val_loaders(verdict, context_length=64, batch_size=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.004, weight_decay=0.1)
    for _ in range(4):
        for x, y in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
            optimizer.step()
    return model.eval(), train_loader


def test_the_int8_copy_keeps_the_loss_on_the_verdict_within_a_tenth_of_a_percent(trained):
    model, loader = trained
    fp32_loss = calc_loss_loader(loader, model, "cpu")
    int8_loss = calc_loss_loader(loader, quantize_int8(model), "cpu")
    assert fp32_loss < 6.5  # it learned something: the test is about a real model, not noise
    assert abs(int8_loss - fp32_loss) < 0.001 * fp32_loss


def test_greedy_generation_with_the_int8_copy_mostly_follows_the_fp32_model(trained, tokenizer):
    model, _ = trained
    prompt = torch.tensor([tokenizer.encode("I had always thought Jack Gisburn")])
    expected = generate_text(model, prompt, max_new_tokens=40, context_size=CFG["context_length"])
    quantized = quantize_int8(model)
    got = generate_text(quantized, prompt, max_new_tokens=40, context_size=CFG["context_length"])
    uncached = generate_text(quantized, prompt, max_new_tokens=40, context_size=CFG["context_length"], use_cache=False)
    assert got.shape == expected.shape == uncached.shape
    assert torch.equal(got[:, :prompt.shape[1] + 10], expected[:, :prompt.shape[1] + 10])  # the first ten new tokens
    assert (got == expected).float().mean() > 0.8


def test_an_int8_copy_cannot_be_trained_and_says_what_to_do_instead():
    quantized = quantize_int8(GPTModel(CFG))
    quantized.train()
    x = torch.randint(0, 50257, (1, 8))
    with pytest.raises(gptedu.InvalidInputError, match="int8 weights .* cannot learn. Train the float32 model"):
        quantized(x)
    with pytest.raises(gptedu.InvalidInputError, match="cannot learn"):
        gptedu.train_model_simple(quantized, [(x, x)], [(x, x)], torch.optim.SGD(quantized.parameters(), lr=0.1),
                                  "cpu", num_epochs=1, eval_freq=1, eval_iter=1, start_context="Hi",
                                  tokenizer=gptedu.get_tokenizer())
    assert not any(p.requires_grad for p in quantized.parameters())


def test_quantize_int8_wants_a_gpt_model():
    with pytest.raises(gptedu.ArgumentTypeError, match="model must be a GPTModel"):
        quantize_int8(nn.Linear(4, 4))
    with pytest.raises(gptedu.ArgumentTypeError, match="linear must be an nn.Linear"):
        Int8Linear(nn.Conv1d(4, 4, 1))


def test_a_model_with_nan_weights_is_refused_with_the_layer_named():
    model = GPTModel(CFG)
    with torch.no_grad():
        model.trf_blocks[1].ff.layers[2].weight[0, 0] = float("nan")
    with pytest.raises(gptedu.InvalidInputError, match=r"trf_blocks\.1\.ff\.layers\.2: The layer's weight \(48, 192\) "
                       "holds NaN or infinite values"):
        quantize_int8(model)


def test_an_int8_copy_is_not_saved_in_the_books_format_and_says_what_to_save(tmp_path):
    quantized = quantize_int8(GPTModel(CFG))
    for save in (lambda: gptedu.save_model(quantized, tmp_path / "m.pth", verbose=False),
                 lambda: gptedu.save_checkpoint(tmp_path / "c.safetensors", quantized)):
        with pytest.raises(gptedu.InvalidInputError, match="int8 weights .* Save the float32 model"):
            save()
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_an_int8_copy_counts_the_same_parameters_as_its_model():
    model = GPTModel(CFG)
    assert gptedu.count_parameters(quantize_int8(model)) == gptedu.count_parameters(model)


def test_the_int8_copy_works_with_beam_search_and_sampling(trained, tokenizer):
    model, _ = trained
    quantized = quantize_int8(model)
    prompt = torch.tensor([tokenizer.encode("I had always thought")])
    beams = generate_text(quantized, prompt, max_new_tokens=8, context_size=CFG["context_length"], num_beams=3)
    sampled = generate_text(quantized, prompt, max_new_tokens=8, context_size=CFG["context_length"], temperature=1.0,
                            top_k=20, top_p=0.9, generator=torch.Generator().manual_seed(0))
    assert beams.shape == sampled.shape == (1, prompt.shape[1] + 8)
    assert torch.equal(beams, generate_text(model, prompt, max_new_tokens=8, context_size=CFG["context_length"], num_beams=3))
