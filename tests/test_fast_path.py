"""gptedu.fast_path: fused kernels, fused AdamW and bf16 autocast switch on and off without changing the model.

References: the faithful path (the book's operations, checked against the book's model in
test_model.py). Fused kernels compute the same function (within float rounding); bf16 is
close but not equal; both keep the parameter names; a fast run still learns.
"""

import math

import pytest
import torch
import torch.nn.functional as F

import gptedu
import gptedu.resume
from gptedu import GPT_CONFIG_124M, ConfigError, GPTModel, train_val_loaders
from gptedu import fast_path as fp
from gptedu.checkpoints import load_checkpoint
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


@pytest.mark.parametrize("quick_dropout", [False, True])
def test_a_fast_run_learns(verdict, quick_dropout):
    """Fused kernels, fused AdamW and bf16 (if native here), with or without quick dropout, lower the loss on the-verdict."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    fast_path = fast_path_for("cpu", quick_dropout=quick_dropout)
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


# --- precision per device: bf16 where native, fp16 with loss scaling on T4/V100 -----------------------------------

def _mock_gpu(monkeypatch, name, capability):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # what a T4 reports by default
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(fp, "fused_adamw_supported", lambda device: True)  # creating a CUDA tensor would fail here


@pytest.mark.parametrize(("gpu", "capability", "precision"), [
    ("Tesla T4", (7, 5), "fp16"), ("Tesla V100-SXM2-16GB", (7, 0), "fp16"), ("NVIDIA A100-SXM4-40GB", (8, 0), "bf16"),
    ("NVIDIA L4", (8, 9), "bf16"), ("NVIDIA H100", (9, 0), "bf16"), ("Tesla P100-PCIE-16GB", (6, 0), "fp32")])
def test_fast_path_for_cuda_picks_the_precision_from_the_compute_capability(monkeypatch, gpu, capability, precision):
    _mock_gpu(monkeypatch, gpu, capability)
    path = fast_path_for("cuda")
    assert path.precision == precision
    assert (path.bf16, path.fp16) == (precision == "bf16", precision == "fp16")  # a T4 never gets bf16
    assert path.fused_kernels and path.fused_adamw
    text = path.describe()  # what gptedu train --fast prints
    assert gpu in text and f"{capability[0]}.{capability[1]}" in text and text.count(precision) >= 1
    if precision == "fp16":
        assert "fp16 autocast with loss scaling" in text and "no native bf16" in text


def test_fast_path_for_cpu_says_why_it_stays_fp32_or_uses_bf16(monkeypatch):
    monkeypatch.setattr(fp, "_cpu_flags", lambda: {"avx2"})
    assert fast_path_for("cpu").precision == "fp32"
    assert "no AVX512_BF16 or AMX" in fast_path_for("cpu").describe()
    monkeypatch.setattr(fp, "_cpu_flags", lambda: {"amx_bf16"})
    assert fast_path_for("cpu").precision == "bf16" and "AVX512_BF16 or AMX" in fast_path_for("cpu").describe()
    assert FastPath().describe().startswith("faithful") and FastPath().precision == "fp32"


def test_fast_path_for_cuda_without_a_gpu_is_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(fp, "fused_adamw_supported", lambda device: False)
    assert fast_path_for("cuda").precision == "fp32"


def test_the_why_does_not_make_two_paths_differ():
    assert FastPath(fused_kernels=True, why="a") == FastPath(fused_kernels=True, why="b")


FP16 = FastPath(fused_kernels=True, fp16=True)
fp16_on_cpu = pytest.mark.skipif(not torch.amp.is_autocast_available("cpu"), reason="this torch has no CPU autocast")


def _loss(model, x, y, factor=1.0):
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten()) * factor


@fp16_on_cpu
def test_fp16_autocast_gives_close_not_equal_logits_and_fp32_gradients_with_the_scale_divided_out():
    faithful, fp16 = twin_models({**CFG, "drop_rate": 0.0})
    apply_fast_path(fp16, FP16)
    x, y = tokens(), tokens()
    assert fp16.loss_scaler.scale == 2.0**16
    for model in (faithful, fp16):
        model.train()
        _loss(model, x, y).backward()
    assert not torch.equal(fp16(x), faithful(x))  # the matrix products really ran in float16 ...
    for (name, a), b in zip(faithful.named_parameters(), fp16.parameters(), strict=True):
        assert b.grad.dtype == torch.float32
        # ... and the gradients are the true ones (not 65,536 times larger): within fp16 rounding
        assert torch.linalg.vector_norm(a.grad - b.grad) <= 0.02 * torch.linalg.vector_norm(a.grad), name


@fp16_on_cpu
def test_without_loss_scaling_small_fp16_gradients_vanish_with_it_they_survive():
    """The reason for the scaler: a gradient below fp16's smallest number (6e-8) becomes 0."""
    faithful, fp16 = twin_models({**CFG, "drop_rate": 0.0})
    apply_fast_path(fp16, FP16)
    x, y = tokens(), tokens()
    for model in (faithful, fp16):
        _loss(model.train(), x, y, factor=1e-6).backward()  # a tiny loss: tiny gradients
    reference = faithful.trf_blocks[0].att.W_query.weight.grad
    scaled = fp16.trf_blocks[0].att.W_query.weight.grad
    assert torch.linalg.vector_norm(scaled - reference) <= 0.05 * torch.linalg.vector_norm(reference)
    fp16.zero_grad()
    fp16.loss_scaler.scale = 1.0  # no scaling
    _loss(fp16, x, y, factor=1e-6).backward()
    unscaled = fp16.trf_blocks[0].att.W_query.weight.grad
    assert (unscaled == 0).float().mean() > 0.5  # most of them were lost on the way through fp16


@fp16_on_cpu
def test_an_fp16_step_with_an_overflow_moves_no_weight_and_halves_the_scale():
    _, model = twin_models()
    apply_fast_path(model, FP16)
    optimizer = make_optimizer(model, lr=1e-3, fast_path=FP16)
    x, y = tokens(), tokens()
    model.loss_scaler.scale = 2.0**40  # far too large: the backward pass overflows fp16
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _loss(model.train(), x, y).backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert optimizer.state == {} or all("step" not in s for s in optimizer.state.values())  # AdamW did not count it
    assert (model.loss_scaler.scale, model.loss_scaler.skipped_steps) == (2.0**39, 1)


@fp16_on_cpu
def test_the_scale_doubles_after_growth_interval_clean_steps():
    _, model = twin_models()
    apply_fast_path(model, FP16)
    model.loss_scaler.growth_interval = 3
    optimizer = make_optimizer(model, fast_path=FP16)
    x, y = tokens(), tokens()
    for _ in range(3):
        optimizer.zero_grad()
        _loss(model.train(), x, y).backward()
        optimizer.step()
    assert model.loss_scaler.scale == 2.0**17 and model.loss_scaler.skipped_steps == 0


@fp16_on_cpu
def test_an_fp16_training_run_on_the_cpu_lowers_the_loss(verdict, tokenizer):
    """The fast path's float16 branch (a T4's), run on this CPU: the book's loop with a hand-made AdamW still learns."""
    torch.manual_seed(123)
    train_loader, val_loader = train_val_loaders(verdict[:6000], 32, batch_size=4)
    model = apply_fast_path(GPTModel(CFG), FP16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)  # the loop makes it skip overflows
    train_losses, val_losses, _ = gptedu.train_model_simple(model, train_loader, val_loader, optimizer, "cpu", 2, 5, 2,
                                                            "Every effort", tokenizer, progress=False)
    assert train_losses[-1] < train_losses[0] - 2.0  # from about 10.9
    assert all(map(math.isfinite, train_losses + val_losses))


@fp16_on_cpu
def test_an_fp16_run_resumed_from_a_checkpoint_continues_with_the_same_loss_scale(verdict, tokenizer, tmp_path):
    """The scale is part of the run: a resume that forgot it would skip different steps."""
    def run(stop_after=None, resume=None):
        torch.manual_seed(123)
        train_loader, val_loader = train_val_loaders(verdict[:6000], 32, batch_size=4)
        model = apply_fast_path(GPTModel(CFG), FP16)
        model.loss_scaler.scale = 2.0**30  # too large: the first steps overflow until it has come down
        optimizer = make_optimizer(model, lr=5e-3, fast_path=FP16)
        checkpoint = tmp_path / "fp16.safetensors"
        save = gptedu.resume.TrainingRun.save

        def save_and_stop(self):
            save(self)
            if stop_after is not None and self.step + 1 == stop_after:
                raise KeyboardInterrupt  # the kernel was stopped right after this checkpoint

        gptedu.resume.TrainingRun.save = save_and_stop
        try:
            gptedu.train_model_simple(model, train_loader, val_loader, optimizer, "cpu", 1, 5, 1, "Every", tokenizer,
                                      progress=False, checkpoint=checkpoint, checkpoint_every=stop_after, resume=resume)
        except KeyboardInterrupt:
            pass
        finally:
            gptedu.resume.TrainingRun.save = save
        return load_checkpoint(checkpoint).progress, model

    unbroken, unbroken_model = run()
    assert unbroken["loss_scaler"]["skipped_steps"] >= 3
    stopped, _ = run(stop_after=2)
    assert stopped["loss_scaler"]["scale"] > 2.0**16  # stopped while the scale was still coming down
    resumed, resumed_model = run(resume=tmp_path / "fp16.safetensors")
    assert resumed["step_losses"] == unbroken["step_losses"] and resumed["loss_scaler"] == unbroken["loss_scaler"]
    assert all(torch.equal(a, b) for a, b in zip(unbroken_model.parameters(), resumed_model.parameters(), strict=True))


def test_switching_fp16_off_removes_the_scaler_and_its_hooks():
    _, model = twin_models()
    apply_fast_path(model, FP16)
    assert model.loss_scaler is not None and model.autocast_dtype == torch.float16
    apply_fast_path(model, FastPath(bf16=True))
    assert model.loss_scaler is None and model.autocast_dtype == torch.bfloat16
    assert all(not p._backward_hooks for p in model.parameters())


# --- quick dropout (opt-in): 16 random bits per element on CPUs --------------------------------------------------

def test_quick_dropout_keeps_one_minus_p_of_the_elements_scaled_and_zeroes_the_rest():
    torch.manual_seed(0)
    x = torch.full((1 << 20,), 2.0)
    out = gptedu.model.quick_dropout(x, 0.1)
    kept = out != 0
    # 2^20 draws with p = 0.100006: the kept fraction is 0.9 within 5 standard deviations (0.0003 each)
    assert abs(kept.float().mean().item() - 0.9) < 5 * math.sqrt(0.9 * 0.1 / x.numel())
    assert torch.allclose(out[kept], torch.tensor(2.0 / 0.9))  # kept values are scaled by 1 / (1 - p)
    assert out.shape == x.shape and out.dtype == x.dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_quick_dropout_keeps_the_dtype_and_an_odd_shape(dtype):
    x = torch.ones(3, 5, 7, dtype=dtype)  # 105 elements: not a multiple of the four per 64-bit draw
    out = gptedu.model.quick_dropout(x, 0.5)
    assert out.dtype == dtype and out.shape == x.shape
    assert set(out.unique().tolist()) <= {0.0, 2.0}


def test_quick_dropout_is_repeatable_with_a_seed_and_draws_other_masks_than_nn_dropout():
    x = torch.ones(4096)
    torch.manual_seed(3)
    first = gptedu.model.quick_dropout(x, 0.1)
    torch.manual_seed(3)
    assert torch.equal(gptedu.model.quick_dropout(x, 0.1), first)
    torch.manual_seed(3)
    assert not torch.equal(F.dropout(x, 0.1, training=True), first)


def test_quick_dropout_passes_the_gradient_only_through_kept_elements():
    x = torch.randn(1000, requires_grad=True)
    out = gptedu.model.quick_dropout(x, 0.3)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.allclose(x.grad[kept], torch.tensor(1 / 0.7))
    assert torch.equal(x.grad[~kept], torch.zeros(int((~kept).sum())))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_quick_dropout_rejects_a_rate_outside_0_to_1(p):
    with pytest.raises(ConfigError, match="p"):
        gptedu.model.quick_dropout(torch.ones(4), p)


def test_the_quick_dropout_switch_reaches_every_dropout_and_spells_attention_out(monkeypatch):
    """On a CPU the fused kernel's own dropout is the slow one, so quick dropout uses the explicit attention."""
    faithful, quick = twin_models()
    path = FastPath(fused_kernels=True, quick_dropout=True)
    apply_fast_path(quick, path)
    dropouts = [m for m in quick.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 1 + 2 * CFG["n_layers"] and all(m.quick for m in dropouts)
    x = tokens()
    with torch.no_grad():  # evaluation: no dropout, so the faithful logits
        assert torch.allclose(quick.eval()(x), faithful.eval()(x), atol=1e-5, rtol=0)
    calls = []
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(k) or real_sdpa(*a, **k))
    quick.train()
    torch.manual_seed(5)
    first = quick(x)
    torch.manual_seed(5)
    assert torch.equal(quick(x), first)  # repeatable with a seed
    assert not any(k.get("dropout_p") for k in calls)  # the kernel's dropout was not used
    torch.manual_seed(5)
    assert not torch.allclose(faithful.train()(x), first, atol=1e-3)  # other random numbers than the book's
    apply_fast_path(quick, FastPath())
    assert not any(m.quick for m in dropouts)


def test_fast_path_for_adds_quick_dropout_only_on_request():
    assert not fast_path_for("cpu").quick_dropout
    path = fast_path_for("cpu", quick_dropout=True)
    assert path.quick_dropout and path.describe().split(";")[0].endswith("+ quick dropout")
    with pytest.raises(gptedu.ArgumentTypeError, match="quick_dropout"):
        fast_path_for("cpu", quick_dropout="yes")

