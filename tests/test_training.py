"""gptedu.training: the seed's training loop, the warmup + cosine + clipping loop, and device choice.

References: ``seed_reference.train_model_simple`` (the book's loop) for losses and printed
lines, and the schedule's definition for ``lr_at_step``. Models are tiny (2 layers of width
32) and train on the first 3,000 characters of the-verdict: 10 steps per epoch.
"""

import contextlib
import io
import itertools
import math
import re

import pytest
import seed_reference as seed
import torch
from torch.utils.data import DataLoader

from gptedu import (
    ConfigError,
    GPTDatasetV1,
    GPTModel,
    NotEnoughDataError,
    TrainingHistory,
    evaluate_model,
    generate_and_print_sample,
    get_device,
    lr_at_step,
    train_model,
    train_model_simple,
    train_val_loaders,
)

CFG = {"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.1, "qkv_bias": False}
EVAL_LINE = re.compile(r"^Ep \d+ \(Step \d{6}\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$")
START_CONTEXT = "Every effort moves you"
NUM_EPOCHS, EVAL_FREQ, EVAL_ITER = 2, 5, 5
LR = 0.004  # ten times the seed's 0.0004, so that 20 steps of a tiny model visibly learn


@pytest.fixture(scope="module")
def split(verdict):
    """The seed's 90/10 split of the first 3,000 characters of the-verdict."""
    text = verdict[:3000]
    split_idx = int(0.90 * len(text))
    return text[:split_idx], text[split_idx:]


@pytest.fixture(scope="module")
def loaders(verdict):
    return train_val_loaders(verdict[:3000], context_length=32, batch_size=2)


def run_quietly(function, *args, **kwargs):
    """Call function, returning its result and the lines it printed."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        result = function(*args, **kwargs)
    return result, output.getvalue().splitlines()


@pytest.fixture(scope="module")
def simple_run(loaders, tokenizer):
    """gptedu.train_model_simple as the seed runs it (seed 123, AdamW with weight decay 0.1), at LR = 10x the seed's rate."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    torch.manual_seed(123)
    result, lines = run_quietly(train_model_simple, model, *loaders, optimizer, "cpu", num_epochs=NUM_EPOCHS, eval_freq=EVAL_FREQ,
                                eval_iter=EVAL_ITER, start_context=START_CONTEXT, tokenizer=tokenizer, progress=False)
    return result, lines


@pytest.fixture(scope="module")
def seed_run(split, tokenizer):
    """The seed's own loaders, model and train_model_simple, with the same settings and seeds."""
    train_text, val_text = split
    train_loader = seed.create_dataloader_v1(train_text, tokenizer, batch_size=2, max_length=32, stride=32, shuffle=True, drop_last=True)
    val_loader = seed.create_dataloader_v1(val_text, tokenizer, batch_size=2, max_length=32, stride=32, shuffle=False, drop_last=False)
    torch.manual_seed(123)
    model = seed.GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    torch.manual_seed(123)
    return run_quietly(seed.train_model_simple, model, train_loader, val_loader, optimizer, "cpu", num_epochs=NUM_EPOCHS,
                       eval_freq=EVAL_FREQ, eval_iter=EVAL_ITER, start_context=START_CONTEXT, tokenizer=tokenizer)


# --- train_model_simple: the seed's loop ----------------------------------------------------------


def test_loaders_give_10_training_steps_per_epoch(loaders):
    assert (len(loaders[0]), len(loaders[1])) == (10, 1)


def test_train_model_simple_prints_the_seeds_evaluation_lines(simple_run):
    _, lines = simple_run
    eval_lines = [line for line in lines if line.startswith("Ep ")]
    assert len(eval_lines) == 4  # steps 0, 5, 10 and 15 of 20
    for line in eval_lines:
        assert EVAL_LINE.match(line), line
    assert [line.split(":")[0] for line in eval_lines] == ["Ep 1 (Step 000000)", "Ep 1 (Step 000005)", "Ep 2 (Step 000010)",
                                                           "Ep 2 (Step 000015)"]


def test_train_model_simple_prints_a_sample_after_each_epoch(simple_run):
    _, lines = simple_run
    samples = [line for line in lines if not line.startswith("Ep ")]
    assert len(samples) == NUM_EPOCHS
    assert all(sample.startswith(START_CONTEXT) for sample in samples)


def test_train_model_simple_returns_three_lists_of_equal_length(simple_run):
    (train_losses, val_losses, tokens_seen), _ = simple_run
    assert len(train_losses) == len(val_losses) == len(tokens_seen) == 4
    assert tokens_seen == [64, 384, 704, 1024]  # (step + 1) * 2 sequences * 32 tokens


def test_train_model_simple_lowers_the_training_loss(simple_run):
    (train_losses, _, _), _ = simple_run
    assert train_losses[0] > 10.0  # untrained: about log(50257) = 10.8
    assert train_losses[-1] < train_losses[0] - 0.5


def test_train_model_simple_gives_the_seeds_losses(simple_run, seed_run):
    (train_losses, val_losses, tokens_seen), _ = simple_run
    (seed_train, seed_val, seed_tokens), _ = seed_run
    assert tokens_seen == seed_tokens
    # Equal up to float rounding: gptedu evaluates with the fused attention kernel, the seed with the explicit one.
    assert train_losses == pytest.approx(seed_train, rel=1e-5)
    assert val_losses == pytest.approx(seed_val, rel=1e-5)


def test_train_model_simple_prints_the_seeds_samples(simple_run, seed_run):
    _, lines = simple_run
    _, seed_lines = seed_run
    assert [line for line in lines if not line.startswith("Ep ")] == [line for line in seed_lines if not line.startswith("Ep ")]


@pytest.mark.parametrize("train_function", [train_model_simple, train_model])
def test_zero_epochs_is_rejected(loaders, tokenizer, train_function):
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(ValueError, match="num_epochs must be a positive integer; got 0"):
        train_function(model, *loaders, optimizer, "cpu", num_epochs=0, eval_freq=5, eval_iter=5, start_context=START_CONTEXT,
                       tokenizer=tokenizer, progress=False)


@pytest.mark.parametrize("train_function", [train_model_simple, train_model])
def test_an_empty_training_loader_is_rejected(loaders, tokenizer, train_function):
    empty = DataLoader(GPTDatasetV1(START_CONTEXT, tokenizer, max_length=32, stride=32), batch_size=2)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(NotEnoughDataError, match="training loader has no batches"):
        train_function(model, empty, loaders[1], optimizer, "cpu", num_epochs=1, eval_freq=5, eval_iter=5,
                       start_context=START_CONTEXT, tokenizer=tokenizer, progress=False)


def test_setting_errors_are_gptedu_config_errors(loaders, tokenizer):
    model = GPTModel(CFG)
    with pytest.raises(ConfigError):  # so `gptedu train` reports them without a traceback
        train_model_simple(model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", num_epochs=0, eval_freq=5,
                           eval_iter=5, start_context=START_CONTEXT, tokenizer=tokenizer, progress=False)


def test_eval_freq_must_be_positive(loaders, tokenizer):
    model = GPTModel(CFG)
    with pytest.raises(ValueError, match="eval_freq must be a positive integer; got 0"):
        train_model_simple(model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", num_epochs=1, eval_freq=0,
                           eval_iter=5, start_context=START_CONTEXT, tokenizer=tokenizer, progress=False)


def test_evaluate_model_equals_the_seeds_and_returns_to_train_mode(loaders):
    torch.manual_seed(123)
    model = GPTModel(CFG)
    model.train()
    torch.manual_seed(0)  # the training loader shuffles: the same seed gives both the same batches
    ours = evaluate_model(model, *loaders, "cpu", eval_iter=3)
    assert model.training
    torch.manual_seed(0)
    assert ours == pytest.approx(seed.evaluate_model(model, *loaders, "cpu", eval_iter=3), rel=1e-5)


def test_generate_and_print_sample_prints_the_seeds_line(tokenizer, capsys):
    torch.manual_seed(123)
    model = GPTModel(CFG)
    generate_and_print_sample(model, tokenizer, "cpu", START_CONTEXT)
    ours = capsys.readouterr().out
    seed.generate_and_print_sample(model, tokenizer, "cpu", START_CONTEXT)
    assert ours == capsys.readouterr().out
    assert ours.count("\n") == 1


# --- lr_at_step: linear warmup, then cosine decay --------------------------------------------------

PEAK, INITIAL, MINIMUM = 1e-3, 3e-5, 1e-6
SCHEDULE = [lr_at_step(step, 100, PEAK, warmup_steps=20, initial_lr=INITIAL, min_lr=MINIMUM) for step in range(100)]


def test_lr_starts_at_initial_lr():
    assert SCHEDULE[0] == pytest.approx(INITIAL)


def test_lr_peaks_at_the_end_of_warmup():
    assert SCHEDULE[20] == pytest.approx(PEAK)
    assert max(SCHEDULE) == pytest.approx(PEAK)


def test_lr_ends_at_min_lr():
    assert SCHEDULE[-1] == pytest.approx(MINIMUM)


def test_lr_rises_linearly_during_warmup():
    assert SCHEDULE[10] == pytest.approx((INITIAL + PEAK) / 2)
    steps = [b - a for a, b in itertools.pairwise(SCHEDULE[:21])]
    assert steps == pytest.approx([steps[0]] * 20)


def test_lr_never_increases_after_warmup():
    decay = SCHEDULE[20:]
    assert all(later <= earlier for earlier, later in itertools.pairwise(decay))


def test_lr_follows_half_a_cosine_after_warmup():
    # 21 steps, 10 of warmup: decay over steps 10..20, halfway at step 15, where cos(pi / 2) = 0.
    assert lr_at_step(15, 21, PEAK, 10, INITIAL, MINIMUM) == pytest.approx((PEAK + MINIMUM) / 2)


def test_lr_without_warmup_starts_at_the_peak():
    assert lr_at_step(0, 50, PEAK, warmup_steps=0) == pytest.approx(PEAK)


def test_warmup_longer_than_training_is_rejected():
    with pytest.raises(ValueError, match=r"warmup_steps must be between 0 and the number of steps \(10\); got 11"):
        lr_at_step(0, 10, PEAK, warmup_steps=11)


# --- train_model: warmup, cosine decay, clipping ---------------------------------------------------


@pytest.fixture(scope="module")
def warmup_run(loaders, tokenizer):
    """train_model with max_norm=0.5, recording each step's gradient norm before and after clipping, and its lr."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    record = {"lr": [], "norm_before": [], "norm_after": []}

    def before_step(optimizer, args, kwargs):
        record["lr"].append(optimizer.param_groups[0]["lr"])
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        record["norm_after"].append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(*args, **kwargs):
        total_norm = clip(*args, **kwargs)  # returns the norm before clipping
        record["norm_before"].append(total_norm.item())
        return total_norm

    optimizer.register_step_pre_hook(before_step)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
        history, lines = run_quietly(train_model, model, *loaders, optimizer, "cpu", num_epochs=NUM_EPOCHS, eval_freq=EVAL_FREQ,
                                     eval_iter=EVAL_ITER, start_context=START_CONTEXT, tokenizer=tokenizer, max_norm=0.5,
                                     progress=False)
    return history, lines, record, optimizer


def test_train_model_returns_a_training_history_that_unpacks_like_the_seeds_tuple(warmup_run):
    history, _, _, _ = warmup_run
    assert isinstance(history, TrainingHistory)
    train_losses, val_losses, tokens_seen, lrs = history
    assert len(train_losses) == len(val_losses) == len(tokens_seen) == 4


def test_train_model_records_one_learning_rate_per_step(warmup_run):
    history, _, _, _ = warmup_run
    total_steps = NUM_EPOCHS * 10
    warmup_steps = int(0.2 * total_steps)  # the default: 20% of all steps
    expected = [lr_at_step(step, total_steps, LR, warmup_steps, 3e-5, 1e-6) for step in range(total_steps)]
    assert history.track_lrs == pytest.approx(expected)


def test_train_model_steps_the_optimizer_with_the_scheduled_rate(warmup_run):
    history, _, record, _ = warmup_run
    assert record["lr"] == history.track_lrs


def test_train_model_clips_the_gradient_norm_to_max_norm(warmup_run):
    _, _, record, _ = warmup_run
    assert len(record["norm_after"]) == NUM_EPOCHS * 10
    assert max(record["norm_after"]) <= 0.5 * (1 + 1e-4)


def test_train_model_clipping_was_needed_in_this_run(warmup_run):
    _, _, record, _ = warmup_run
    assert max(record["norm_before"]) > 0.5  # so the previous test shows clipping at work


def test_train_model_restores_the_optimizers_learning_rate(warmup_run):
    _, _, _, optimizer = warmup_run
    assert optimizer.param_groups[0]["lr"] == LR


def test_train_model_prints_the_seeds_lines(warmup_run):
    _, lines, _, _ = warmup_run
    assert sum(bool(EVAL_LINE.match(line)) for line in lines) == 4
    assert sum(line.startswith(START_CONTEXT) for line in lines) == NUM_EPOCHS


def test_train_model_lowers_the_training_loss(warmup_run):
    history, _, _, _ = warmup_run
    assert history.train_losses[-1] < history.train_losses[0] - 0.5


def test_train_model_without_max_norm_does_not_clip(loaders, tokenizer, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *args, **kwargs: calls.append(args))
    model = GPTModel(CFG)
    run_quietly(train_model, model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", num_epochs=1, eval_freq=100,
                eval_iter=1, start_context="Every", tokenizer=tokenizer, max_norm=None, progress=False)
    assert calls == []


@pytest.mark.parametrize("max_norm", [0, -1.0])
def test_max_norm_must_be_positive(loaders, tokenizer, max_norm):
    model = GPTModel(CFG)
    with pytest.raises(ValueError, match="max_norm must be greater than 0"):
        train_model(model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", num_epochs=1, eval_freq=5, eval_iter=5,
                    start_context=START_CONTEXT, tokenizer=tokenizer, max_norm=max_norm, progress=False)


# --- get_device ------------------------------------------------------------------------------------


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine without CUDA or MPS, whatever this one has."""
    monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_get_device_cpu(cpu_only):
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_get_device_defaults_to_cpu_without_a_gpu(cpu_only):
    assert get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_when_available(cpu_only, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_get_device_uses_mps_when_there_is_no_cuda(cpu_only, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")


def test_get_device_reads_gptedu_device(cpu_only, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("GPTEDU_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_get_device_argument_overrides_gptedu_device(cpu_only, monkeypatch):
    monkeypatch.setenv("GPTEDU_DEVICE", "cuda")
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_get_device_unavailable_device_says_so(cpu_only, device):
    with pytest.raises(ValueError, match=f"Device '{device}' \\(get_device's argument\\) is not available on this machine"):
        get_device(device)


def test_get_device_error_is_a_config_error(cpu_only):
    with pytest.raises(ConfigError):
        get_device("cuda")


def test_get_device_unavailable_device_from_the_environment_says_so(cpu_only, monkeypatch):
    monkeypatch.setenv("GPTEDU_DEVICE", "cuda")
    with pytest.raises(ValueError, match=r"'cuda' \(\$GPTEDU_DEVICE\) is not available"):
        get_device()


def test_training_history_lrs_are_floats(warmup_run):
    history, _, _, _ = warmup_run
    assert all(isinstance(lr, float) and math.isfinite(lr) for lr in history.track_lrs)


# --- gradient accumulation (train_model's accumulation_steps) ---


def _train_copy(verdict, tokenizer, batch_size, accumulation_steps, num_epochs=1, num_windows=20):
    """Train a dropout-free copy of one initial model on the same ``num_windows`` windows, in order; return it."""
    cfg = {**CFG, "drop_rate": 0.0}
    torch.manual_seed(0)
    model = GPTModel(cfg)
    windows = torch.utils.data.Subset(GPTDatasetV1(verdict[:2700], tokenizer, 32, 32), range(num_windows))
    train_loader = DataLoader(windows, batch_size=batch_size, shuffle=False, drop_last=True)
    val_loader = DataLoader(GPTDatasetV1(verdict[2700:3000], tokenizer, 32, 32), batch_size=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    history, _ = run_quietly(train_model, model, train_loader, val_loader, optimizer, "cpu", num_epochs, 100, 1,
                             START_CONTEXT, tokenizer, warmup_steps=2, progress=False, accumulation_steps=accumulation_steps)
    return model, history


def test_accumulating_two_batches_of_one_equals_one_batch_of_two(verdict, tokenizer):
    big_batch, big_history = _train_copy(verdict, tokenizer, batch_size=2, accumulation_steps=1, num_epochs=2)
    accumulated, acc_history = _train_copy(verdict, tokenizer, batch_size=1, accumulation_steps=2, num_epochs=2)
    assert len(acc_history.track_lrs) == 2 * len(big_history.track_lrs)  # one rate per batch
    assert acc_history.track_lrs[::2] == big_history.track_lrs  # the schedule counts optimizer steps
    # Equal up to float rounding: the gradients are summed in another order, and AdamW divides each by its own
    # small running scale, so on an AVX512 CPU the output head differed by 1.0e-6 after 2 epochs (the test below
    # shows that accumulating wrongly, as plain steps, moves it by more than 1e-4).
    for (name, a), b in zip(big_batch.state_dict().items(), accumulated.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=0), name


def test_accumulation_changes_the_weights_compared_with_no_accumulation(verdict, tokenizer):
    """The test above could pass if accumulation did nothing at batch size 1: it must differ from plain steps."""
    plain, _ = _train_copy(verdict, tokenizer, batch_size=1, accumulation_steps=1)
    accumulated, _ = _train_copy(verdict, tokenizer, batch_size=1, accumulation_steps=2)
    assert not torch.allclose(plain.out_head.weight, accumulated.out_head.weight, atol=1e-4)


def test_a_leftover_group_at_the_end_of_an_epoch_is_averaged_over_its_own_batches(verdict, tokenizer):
    # 19 windows of 32 tokens with batch size 1: groups of 4, 4, 4, 4, 3 (5 steps)
    _, history = _train_copy(verdict, tokenizer, batch_size=1, accumulation_steps=4, num_windows=19)
    assert len(history.track_lrs) == 19
    assert len(set(history.track_lrs[16:])) == 1  # the last three batches form one step


@pytest.mark.parametrize("steps", [0, -1, 1.5, True])
def test_accumulation_steps_must_be_a_positive_integer(loaders, tokenizer, steps):
    model = GPTModel(CFG)
    with pytest.raises(ConfigError, match="accumulation_steps must be a positive integer"):
        train_model(model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", 1, 5, 1, START_CONTEXT, tokenizer,
                    accumulation_steps=steps, progress=False)


def test_a_checkpoint_inside_an_accumulation_group_is_rejected(loaders, tokenizer, tmp_path):
    model = GPTModel(CFG)
    with pytest.raises(ConfigError, match="middle of an accumulation group"):
        train_model(model, *loaders, torch.optim.AdamW(model.parameters()), "cpu", 1, 5, 1, START_CONTEXT, tokenizer,
                    accumulation_steps=4, checkpoint=tmp_path / "c.safetensors", checkpoint_every=3, progress=False)


# --- Bad settings and runs that go wrong: clear errors instead of silent failures ---------------------------------

from gptedu import ArgumentTypeError, TrainingDivergedError  # noqa: E402


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x"])
def test_get_device_names_a_bad_device_string(cpu_only, name):
    with pytest.raises(ConfigError, match=rf"'{re.escape(name)}' \(get_device's argument\) is not a device name"):
        get_device(name)


def test_a_nan_learning_rate_set_after_construction_is_rejected(loaders, tokenizer):
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    optimizer.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ConfigError, match="learning rate must be a finite number >= 0; got nan"):
        train_model_simple(model, *loaders, optimizer, "cpu", 1, EVAL_FREQ, EVAL_ITER, START_CONTEXT, tokenizer,
                           progress=False)


def test_an_optimizer_of_another_model_is_rejected(loaders, tokenizer):
    torch.manual_seed(123)
    model, other = GPTModel(CFG), GPTModel(CFG)
    optimizer = torch.optim.AdamW(other.parameters(), lr=LR)
    with pytest.raises(ConfigError, match="holds none of this model's weights"):
        train_model_simple(model, *loaders, optimizer, "cpu", 1, EVAL_FREQ, EVAL_ITER, START_CONTEXT, tokenizer,
                           progress=False)


def model_whose_weights_break(monkeypatch, after_update: int, value: float):
    """A seeded tiny GPT and its AdamW, whose update number ``after_update`` (0-based) fills an embedding with ``value``."""
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    calls = itertools.count()
    real_step = optimizer.step

    def step_that_breaks_the_weights(*args, **kwargs):
        result = real_step(*args, **kwargs)
        if next(calls) == after_update:
            with torch.no_grad():
                model.tok_emb.weight.fill_(value)
        return result

    monkeypatch.setattr(optimizer, "step", step_that_breaks_the_weights)
    return model, optimizer


@pytest.mark.parametrize("train_function", [train_model_simple, train_model])
def test_a_loss_that_becomes_nan_stops_training_and_names_the_step(loaders, tokenizer, train_function, monkeypatch):
    model, optimizer = model_whose_weights_break(monkeypatch, after_update=2, value=float("nan"))  # as a far too high rate would
    with pytest.raises(TrainingDivergedError, match=r"Training stopped at step 3 \(epoch 1\): the loss is nan") as error:
        run_quietly(train_function, model, *loaders, optimizer, "cpu", 2, EVAL_FREQ, EVAL_ITER, START_CONTEXT,
                    tokenizer, progress=False)
    assert "learning rate was" in str(error.value) and "No checkpoint was saved" in str(error.value)
    assert isinstance(error.value, FloatingPointError)


def test_a_nan_loss_keeps_the_last_good_checkpoint_and_says_so(loaders, tokenizer, monkeypatch, tmp_path):
    from gptedu import load_checkpoint

    model, optimizer = model_whose_weights_break(monkeypatch, after_update=12, value=float("inf"))  # in epoch 2
    path = tmp_path / "run.safetensors"
    with pytest.raises(TrainingDivergedError, match=r"step 13 .*run.safetensors holds the run as it was after step 9"):
        run_quietly(train_model_simple, model, *loaders, optimizer, "cpu", 2, EVAL_FREQ, EVAL_ITER, START_CONTEXT,
                    tokenizer, progress=False, checkpoint=path)
    saved = GPTModel(CFG)
    load_checkpoint(path, saved)
    assert all(torch.isfinite(p).all() for p in saved.parameters())


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("max_norm", float("nan"), "max_norm must be a finite number; got nan"),
    ("max_norm", float("inf"), "max_norm must be a finite number; got inf"),
    ("min_lr", -1.0, "min_lr must be >= 0.0; got -1.0"),
    ("min_lr", 0.5, r"min_lr \(0.5\) is above the peak learning rate"),
    ("initial_lr", float("nan"), "initial_lr must be a finite number"),
    ("warmup_steps", 2.5, "warmup_steps must be an integer; got 2.5"),
])
def test_train_model_rejects_a_bad_schedule_setting(loaders, tokenizer, setting, value, message):
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    with pytest.raises((ConfigError, ArgumentTypeError), match=message):
        train_model(model, *loaders, optimizer, "cpu", 1, EVAL_FREQ, EVAL_ITER, START_CONTEXT, tokenizer,
                    progress=False, **{setting: value})


def test_an_empty_validation_loader_is_rejected_before_training(verdict, tokenizer):
    train_loader, _ = train_val_loaders(verdict[:3000], context_length=32, batch_size=2)
    empty = DataLoader([], batch_size=2)
    torch.manual_seed(123)
    model = GPTModel(CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    with pytest.raises(NotEnoughDataError, match="The validation loader has no batches"):
        train_model_simple(model, train_loader, empty, optimizer, "cpu", 1, EVAL_FREQ, EVAL_ITER, START_CONTEXT,
                           tokenizer, progress=False)
