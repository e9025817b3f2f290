"""Notebook 06's exercises beyond the generic tests: the byte count is what a checkpoint really stores,
and the book's exercise 5.4 accepts gptedu's checkpoint functions as well as torch.save, and names the
mistakes of a student who saves only the model or trains the wrong model."""

import torch
from safetensors.torch import load_file

from gptedu import GPT2_PARAMETER_COUNTS, GPTModel, load_checkpoint, save_checkpoint
from gptedu.exercises import check, get_exercise
from gptedu.exercises.core import FAILED, PASSED
from gptedu.exercises.nb06 import _bytes_cases, _checkpoint_bytes_reference, _gpt2_124m_sizes, _train_steps

one_epoch = _train_steps  # the book's step on each batch, as the exercise's own reference runs it


def test_the_byte_count_is_what_save_checkpoint_stores(tmp_path):
    for case in _bytes_cases()[:2]:  # float32, untied and tied
        model, optimizer = case.args
        tensors = load_file(str(save_checkpoint(tmp_path / "run.safetensors", model, optimizer)))
        stored = sum(t.numel() * t.element_size() for name, t in tensors.items() if name.startswith(("model.", "optimizer.")))
        assert stored == _checkpoint_bytes_reference(model, optimizer)


def test_the_124m_sizes_follow_the_published_parameter_count():
    model_mb, checkpoint_mb = _gpt2_124m_sizes()
    assert model_mb == 4 * GPT2_PARAMETER_COUNTS["gpt2-small (124M)"] / 1e6
    assert checkpoint_mb == 3 * model_mb


def test_resuming_with_gptedus_checkpoint_functions_passes():
    def save_and_resume(model, optimizer, folder, train_loader):
        save_checkpoint(folder / "run.safetensors", model, optimizer)
        new_model = GPTModel(model.cfg)
        new_optimizer = torch.optim.AdamW(new_model.parameters(), lr=0.0005, weight_decay=0.1)
        load_checkpoint(folder / "run.safetensors", new_model, new_optimizer)
        return one_epoch(new_model, new_optimizer, train_loader)

    assert check("06.4", save_and_resume).status == PASSED


def test_saving_only_the_model_is_named():
    def save_and_resume(model, optimizer, folder, train_loader):
        torch.save(model.state_dict(), folder / "model.pth")
        new_model = GPTModel(model.cfg)
        new_model.load_state_dict(torch.load(folder / "model.pth", weights_only=True))
        new_optimizer = torch.optim.AdamW(new_model.parameters(), lr=0.0005, weight_decay=0.1)
        return one_epoch(new_model, new_optimizer, train_loader)

    result = check("06.4", save_and_resume)
    assert result.status == FAILED and "optimizer started fresh" in result.message


def test_an_optimizer_left_on_the_old_model_is_named_even_though_it_changes_the_case():
    def save_and_resume(model, optimizer, folder, train_loader):  # trains the case's own model by mistake
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, folder / "both.pth")
        state = torch.load(folder / "both.pth", weights_only=True)
        new_model = GPTModel(model.cfg)
        new_model.load_state_dict(state["model"])
        new_optimizer = torch.optim.AdamW(model.parameters(), lr=0.0005, weight_decay=0.1)
        new_optimizer.load_state_dict(state["optimizer"])
        return one_epoch(new_model, new_optimizer, train_loader)

    result = check("06.4", save_and_resume)
    assert result.status == FAILED and get_exercise("06.4").mistakes[1].message in result.message
