"""gptedu.loss: cross-entropy of a batch and of a loader, and perplexity.

References: the definition written out by hand (minus the mean log-probability of the
targets) and the seed's ``calc_loss_batch`` / ``calc_loss_loader``.
"""

import math

import pytest
import seed_reference as seed
import torch
from torch.utils.data import DataLoader

from gptedu import (
    ArgumentTypeError,
    ConfigError,
    GPTDatasetV1,
    NotEnoughDataError,
    calc_loss_batch,
    calc_loss_loader,
    create_dataloader_v1,
    perplexity,
)


@pytest.fixture
def loader(verdict):
    """Five batches of 2 x 32 tokens from the start of the-verdict, in order."""
    return create_dataloader_v1(verdict[:1450], batch_size=2, max_length=32, stride=32, shuffle=False, drop_last=True)


@pytest.fixture
def empty_loader(tokenizer):
    """A loader over a text too short for a single window, as the seed's validation loader can be."""
    return DataLoader(GPTDatasetV1("Every effort moves you", tokenizer, max_length=32, stride=32), batch_size=2)


def manual_loss(logits, targets):
    """The definition: minus the mean log-probability the model gives to each correct next token."""
    log_probs = torch.log_softmax(logits, dim=-1)  # (B, T, vocab)
    target_log_probs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -target_log_probs.mean()


def test_calc_loss_batch_is_minus_the_mean_log_probability_of_the_targets(small_model, loader):
    inputs, targets = next(iter(loader))
    with torch.no_grad():
        expected = manual_loss(small_model(inputs), targets)
        torch.testing.assert_close(calc_loss_batch(inputs, targets, small_model, "cpu"), expected)


def test_calc_loss_batch_of_an_untrained_model_is_near_log_vocab_size(small_model, loader):
    inputs, targets = next(iter(loader))
    with torch.no_grad():
        loss = calc_loss_batch(inputs, targets, small_model, "cpu").item()
    assert abs(loss - math.log(50257)) < 1.0  # about 10.8: a near-uniform guess over 50,257 tokens


def test_calc_loss_batch_equals_the_seeds(small_model, loader):
    inputs, targets = next(iter(loader))
    with torch.no_grad():
        assert calc_loss_batch(inputs, targets, small_model, "cpu") == seed.calc_loss_batch(inputs, targets, small_model, "cpu")


def test_calc_loss_batch_can_be_backpropagated(small_model, loader):
    inputs, targets = next(iter(loader))
    loss = calc_loss_batch(inputs, targets, small_model, "cpu")
    loss.backward()
    assert small_model.out_head.weight.grad is not None


def test_calc_loss_batch_rejects_targets_of_another_shape(small_model, loader):
    inputs, targets = next(iter(loader))
    with pytest.raises(ValueError, match=r"same shape; got \(2, 32\) and \(2, 31\)"):
        calc_loss_batch(inputs, targets[:, :-1], small_model, "cpu")


def test_calc_loss_loader_averages_every_batch_by_default(small_model, loader):
    with torch.no_grad():
        batch_losses = [calc_loss_batch(x, y, small_model, "cpu").item() for x, y in loader]
        assert len(batch_losses) == 5
        assert calc_loss_loader(loader, small_model, "cpu") == pytest.approx(sum(batch_losses) / 5)


def test_calc_loss_loader_averages_the_first_num_batches(small_model, loader):
    with torch.no_grad():
        batch_losses = [calc_loss_batch(x, y, small_model, "cpu").item() for x, y in loader]
        assert calc_loss_loader(loader, small_model, "cpu", num_batches=2) == pytest.approx(sum(batch_losses[:2]) / 2)


def test_calc_loss_loader_caps_num_batches_at_the_loaders_length(small_model, loader):
    with torch.no_grad():
        assert calc_loss_loader(loader, small_model, "cpu", num_batches=100) == calc_loss_loader(loader, small_model, "cpu")


def test_calc_loss_loader_of_an_empty_loader_raises_instead_of_returning_nan(small_model, empty_loader):
    assert len(empty_loader) == 0
    assert math.isnan(seed.calc_loss_loader(empty_loader, small_model, "cpu"))  # the seed's silent nan
    with pytest.raises(NotEnoughDataError, match="no batches") as excinfo:
        calc_loss_loader(empty_loader, small_model, "cpu")
    assert "train_ratio" in str(excinfo.value)  # what to change when it is the validation loader


@pytest.mark.parametrize("num_batches", [None, 1, 3, 100])
def test_calc_loss_loader_equals_the_seeds(small_model, loader, num_batches):
    with torch.no_grad():
        ours = calc_loss_loader(loader, small_model, "cpu", num_batches=num_batches)
        reference = seed.calc_loss_loader(loader, small_model, "cpu", num_batches=num_batches)
    assert ours == reference


def test_calc_loss_loader_rejects_zero_batches(small_model, loader):
    with pytest.raises(ConfigError, match="num_batches must be a positive integer; got 0"):
        calc_loss_loader(loader, small_model, "cpu", num_batches=0)


@pytest.mark.parametrize("num_batches", [1.5, 2.0, "2", True])
def test_calc_loss_loader_rejects_a_num_batches_that_is_not_an_int(small_model, loader, num_batches):
    # 1.5 used to add up two batch losses and divide their sum by 1.5: a loss about 4/3 too high
    with pytest.raises(ArgumentTypeError, match=f"num_batches must be an integer; got {num_batches!r}"):
        calc_loss_loader(loader, small_model, "cpu", num_batches=num_batches)


def test_perplexity_is_exp_of_the_loss():
    assert perplexity(math.log(48725.8)) == pytest.approx(48725.8)  # the seed's example


def test_perplexity_of_a_perfect_model_is_1():
    assert perplexity(0.0) == 1.0


def test_perplexity_accepts_a_loss_tensor():
    assert perplexity(torch.tensor(math.log(50257.0))) == pytest.approx(50257.0, rel=1e-6)


def test_perplexity_of_nan_is_nan():
    assert math.isnan(perplexity(float("nan")))  # e.g. the loss of a model whose weights diverged


def test_perplexity_of_a_huge_loss_is_infinite_instead_of_overflowing():
    assert perplexity(1000.0) == math.inf
