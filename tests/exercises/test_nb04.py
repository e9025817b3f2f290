"""The checks of notebook 04's exercises, beyond the generic tests: the references are gptedu's loop, fresh
cases really start afresh, and typical student answers get the message meant for them."""

import torch
import torch.nn.functional as F

from gptedu import get_tokenizer, lr_at_step, train_model_simple
from gptedu.exercises import check
from gptedu.exercises.core import FAILED, PASSED
from gptedu.exercises.nb04 import _evaluations_and_tokens, _reference_train_epoch, _training_args, _training_cases, solve_04_4


def _without_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def test_the_reference_epoch_is_train_model_simples_inner_loop(capsys):
    # Without dropout: train_model_simple's evaluation at step 0 iterates both loaders, and each DataLoader
    # iterator draws its base seed from torch's generator, which shifts the dropout masks of the steps after it.
    model, optimizer, loader, device = _training_args(41, 1, 3, "adamw")
    _reference_train_epoch(_without_dropout(model), optimizer, loader, device)
    same_model, same_optimizer, same_loader, _ = _training_args(41, 1, 3, "adamw")
    _without_dropout(same_model)
    train_model_simple(same_model, same_loader, same_loader, same_optimizer, device, num_epochs=1, eval_freq=100, eval_iter=1,
                       start_context="!", tokenizer=get_tokenizer(), progress=False)  # "!" is token 0: inside the vocabulary of 50
    capsys.readouterr()
    for (name, weight), same_weight in zip(model.state_dict().items(), same_model.state_dict().values(), strict=True):
        assert torch.allclose(weight, same_weight, atol=1e-7), name


def test_a_fresh_case_builds_new_objects_with_the_same_start_each_time():
    case = _training_cases()[0]
    first, second = case.args, case.args
    assert first[0] is not second[0] and first[1] is not second[1]
    assert all(torch.equal(a, b) for a, b in zip(first[0].state_dict().values(), second[0].state_dict().values(), strict=True))
    assert not first[0].training  # it arrives in eval mode: the student's function must switch training on
    draws = []
    for _ in range(2):
        case.args  # noqa: B018 - reading the arguments seeds the dropout draws that follow
        draws.append(torch.rand(3))
    assert torch.equal(*draws)


def test_an_epoch_written_with_cross_entropy_directly_passes():
    def train_epoch(model, optimizer, train_loader, device):
        model.train()
        losses = []
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            logits = model(inputs.to(device))
            loss = F.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten())
            loss.backward()
            optimizer.step()
            losses.append(loss)  # tensors instead of floats are accepted
        return losses

    assert check("04.1", train_epoch).status == PASSED


def test_zero_grad_after_backward_is_named_as_weights_that_never_change():
    def train_epoch(model, optimizer, train_loader, device):
        model.train()
        losses = []
        for inputs, targets in train_loader:
            loss = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())
            loss.backward()
            optimizer.zero_grad()  # wipes the gradients just computed
            optimizer.step()
            losses.append(loss.item())
        return losses

    result = check("04.1", train_epoch)
    assert result.status == FAILED and "weights never change" in result.message


def test_evaluating_without_restoring_the_mode_is_named():
    from gptedu import calc_loss_loader

    def evaluate_model_by_hand(model, train_loader, val_loader, device, eval_iter):
        model.eval()
        with torch.no_grad():
            train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
            val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
        return train_loss, val_loss, model.training

    result = check("04.2", evaluate_model_by_hand)
    assert result.status == FAILED and "model.train()" in result.message


def test_a_schedule_built_from_gptedus_lr_at_step_passes_and_a_rounded_one_fails():
    def lr_schedule(total_steps, peak_lr, warmup_steps, initial_lr, min_lr):
        return [lr_at_step(s, total_steps, peak_lr, warmup_steps, initial_lr, min_lr) for s in range(total_steps)]

    assert check("04.3", lr_schedule).status == PASSED
    rounded = check("04.3", lambda *args: [float(f"{lr:.3g}") for lr in lr_schedule(*args)])
    assert rounded.status == FAILED  # the rates are compared relatively, not to an absolute 1e-5


def test_the_counting_is_measured_by_running_the_loop_and_leaves_the_rng_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    assert _evaluations_and_tokens.__wrapped__() == solve_04_4()  # uncached: really run
    assert torch.equal(torch.rand(2), expected) and torch.get_num_threads() == threads
