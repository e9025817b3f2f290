"""gptedu.fast_path: fused kernels, fused AdamW and bf16 autocast switch on and off without changing the model.

References: the faithful path (the book's operations, checked against the book's model in
test_model.py). Fused kernels compute the same function (within float rounding); bf16 is
close but not equal; both keep the parameter names; a fast run still learns.
"""

import pytest
import torch
import torch.nn.functional as F

from gptedu import GPT_CONFIG_124M, ConfigError, GPTModel, train_val_loaders
from gptedu import fast_path as fp
from gptedu.fast_path import FastPath, apply_fast_path, fast_path_for, make_optimizer, native_bf16

CFG = {"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.1, "qkv_bias": False}
FUSED = FastPath(fused_kernels=True)


def twin_models(cfg=CFG):
    """Two models with the same weights: the faithful one and one to switch."""
    torch.manual_seed(0)
    faithful = GPTModel(cfg)
    other = GPTModel(cfg)
    other.load_state_dict(faithful.state_dict())
    return faithful, other


def tokens(batch=2, length=32):
    return torch.randint(0, CFG["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(1))


def test_fused_kernels_give_the_faithful_logits_in_evaluation():
    faithful, fused = twin_models()
    apply_fast_path(fused, FUSED)
    x = tokens()
    with torch.no_grad():
        expected, got = faithful.eval()(x), fused.eval()(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert all(block.norm1.fused and block.ff.layers[1].fused for block in fused.trf_blocks)  # the switch reached them


def test_fused_kernels_give_the_faithful_loss_and_gradients_when_training_without_dropout():
    faithful, fused = twin_models({**CFG, "drop_rate": 0.0})
    apply_fast_path(fused, FUSED)
    x, y = tokens(), tokens()
    for model in (faithful, fused):
        model.train()
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
    for (name, a), b in zip(faithful.named_parameters(), fused.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5, rtol=1e-4), name


def test_fused_attention_drops_attention_weights_while_training():
    """With dropout, the fused path must still be random in training and deterministic in evaluation."""
    _, fused = twin_models({**CFG, "drop_rate": 0.5})
    apply_fast_path(fused, FUSED)
    attention = fused.trf_blocks[0].att
    x = torch.randn(2, 32, CFG["emb_dim"])
    attention.train()
    first, second = attention(x), attention(x)
    assert not torch.allclose(first, second)
    attention.eval()
    assert torch.equal(attention(x), attention(x))


def test_the_faithful_path_switches_everything_back_bit_for_bit():
    faithful, switched = twin_models()
    apply_fast_path(switched, FastPath(fused_kernels=True, bf16=True))
    apply_fast_path(switched, FastPath())
    x = tokens()
    with torch.no_grad():
        assert torch.equal(switched.eval()(x), faithful.eval()(x))


def test_bf16_autocast_returns_fp32_logits_close_to_but_not_equal_to_fp32():
    faithful, bf16 = twin_models()
    apply_fast_path(bf16, FastPath(fused_kernels=True, bf16=True))
    x = tokens()
    with torch.no_grad():
        expected, got = faithful.eval()(x), bf16.eval()(x)
    assert got.dtype == torch.float32
    assert not torch.equal(got, expected)  # the matrix products really ran in bf16 ...
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()  # ... and still give the same logits, roughly


def test_bf16_autocast_does_not_touch_cached_generation():
    """One token at a time is limited by memory: the KV-cache path stays fp32 and gives the fp32 logits."""
    faithful, bf16 = twin_models()
    apply_fast_path(bf16, FastPath(bf16=True))
    x = tokens(batch=1, length=8)
    with torch.no_grad():
        caches = faithful.eval().new_kv_cache(), bf16.eval().new_kv_cache()
        assert torch.equal(faithful(x, caches[0]), bf16(x, caches[1]))


def test_switching_keeps_the_books_state_dict_keys():
    faithful, fast = twin_models()
    apply_fast_path(fast, FastPath(fused_kernels=True, fused_adamw=True, bf16=True, compile=True))
    assert list(fast.state_dict()) == list(faithful.state_dict())


def test_apply_fast_path_rejects_other_settings():
    with pytest.raises(ConfigError, match="fast_path must be a FastPath"):
        apply_fast_path(GPTModel(CFG), {"bf16": True})


def test_compile_needs_a_gpt_model():
    with pytest.raises(ConfigError, match="compile=True needs a GPTModel"):
        apply_fast_path(torch.nn.Linear(2, 2), FastPath(compile=True))


@pytest.mark.parametrize(("flags", "expected"), [({"avx512_bf16", "avx512f"}, True), ({"amx_bf16"}, True),
                                                 ({"avx512f", "avx2"}, False), (set(), False)])
def test_native_bf16_on_cpu_follows_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(fp, "_cpu_flags", lambda: flags)
    assert native_bf16("cpu") is expected


@pytest.mark.parametrize(("gpu", "capability", "expected"), [("Tesla T4 (Colab's free GPU)", (7, 5), False),
                                                              ("Tesla V100", (7, 0), False),
                                                              ("A100", (8, 0), True), ("H100", (9, 0), True)])
def test_native_bf16_on_cuda_follows_the_compute_capability_not_emulation(monkeypatch, gpu, capability, expected):
    """torch.cuda.is_bf16_supported() says True on a T4 (emulated bf16): the capability decides instead."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # what a T4 reports by default
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert native_bf16("cuda") is expected, gpu
    assert native_bf16("cuda:0") is expected


def test_native_bf16_is_off_on_mps():
    assert native_bf16("mps") is False


def test_fast_path_for_cpu_turns_bf16_on_only_where_native(monkeypatch):
    monkeypatch.setattr(fp, "_cpu_flags", lambda: {"avx2"})
    assert fast_path_for("cpu").bf16 is False
    monkeypatch.setattr(fp, "_cpu_flags", lambda: {"avx512_bf16"})
    assert fast_path_for("cpu").bf16 is True
    assert fast_path_for("cpu").fused_kernels is True


def test_make_optimizer_is_the_seeds_adamw_and_fused_on_request():
    model = GPTModel(CFG)
    plain = make_optimizer(model)
    assert plain.defaults["lr"] == 0.0004 and plain.defaults["weight_decay"] == 0.1
    assert not plain.defaults["fused"]
    assert make_optimizer(model, fast_path=FastPath(fused_adamw=True)).defaults["fused"] is True


def test_make_optimizer_explains_a_missing_fused_adamw(monkeypatch):
    monkeypatch.setattr(fp, "fused_adamw_supported", lambda device: False)
    with pytest.raises(ConfigError, match="no fused AdamW for cpu"):
        make_optimizer(GPTModel(CFG), fast_path=FastPath(fused_adamw=True))


def test_fused_adamw_takes_the_same_step_as_the_seeds_adamw():
    faithful, fused = twin_models({**CFG, "drop_rate": 0.0})
    x, y = tokens(), tokens()
    for model, fast_path in ((faithful, FastPath()), (fused, FastPath(fused_adamw=True))):
        optimizer = make_optimizer(model, fast_path=fast_path)
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
            optimizer.step()
    for (name, a), b in zip(faithful.named_parameters(), fused.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), name


def test_describe_names_the_switches():
    assert FastPath().describe().startswith("faithful")
    assert FastPath(fused_kernels=True, bf16=True).describe() == "fused kernels + bf16 autocast"


def test_a_fast_run_learns(verdict):
    """Fused kernels, fused AdamW and bf16 (if native here) lower the loss on the-verdict as the faithful path does."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    fast_path = fast_path_for("cpu")
    apply_fast_path(model, fast_path)
    train_loader, _ = train_val_loaders(verdict[:3000], context_length=32, batch_size=2)
    optimizer = make_optimizer(model, lr=0.004, fast_path=fast_path)
    losses = []
    for _ in range(3):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < losses[0] - 2.0


def test_the_124m_model_keeps_its_parameter_count_on_the_fast_path():
    with torch.device("meta"):
        model = apply_fast_path(GPTModel(GPT_CONFIG_124M), FastPath(fused_kernels=True, bf16=True))
    assert sum(p.numel() for p in model.parameters()) == 162_419_712


def test_on_the_cpu_fused_attention_drops_the_same_weights_as_the_books_code():
    """PyTorch's CPU attention kernel draws dropout like nn.Dropout: same seed, same training logits.

    Notebook 04 and the README rely on this to explain why the fast run's losses stay close to
    the book's; if a PyTorch version changes it, this test says so.
    """
    faithful, fused = twin_models()
    apply_fast_path(fused, FUSED)
    x = tokens()
    faithful.train(), fused.train()
    torch.manual_seed(5)
    expected = faithful(x)
    torch.manual_seed(5)
    got = fused(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    torch.manual_seed(6)
    assert not torch.allclose(fused(x), expected, atol=1e-3)  # a different seed gives other dropout masks
