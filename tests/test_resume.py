"""Exact resume (gptedu/resume.py): a run stopped, saved and continued in a new Python process equals an unbroken run.

The reference is the same training run without interruption: per-step losses, printed lines
and final weights must be identical bit for bit (CPU, float32, dropout on, shuffling loader).
Each run is its own Python process, so nothing can survive in memory between stop and resume.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from gptedu import GPTModel, get_tokenizer, load_text, train_model_simple, train_val_loaders
from gptedu.checkpoints import load_checkpoint
from gptedu.errors import ConfigError

SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    import gptedu.resume
    from gptedu import GPTModel, get_tokenizer, load_text, train_model, train_model_simple, train_val_loaders
    from gptedu.checkpoints import load_checkpoint

    function, checkpoint, stop_after, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] or None
    torch.set_num_threads(1)
    cfg = {"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2, "drop_rate": 0.1, "qkv_bias": False}
    torch.manual_seed(123)
    train_loader, val_loader = train_val_loaders(load_text("the-verdict")[:6000], 32, batch_size=4)  # 10 batches an epoch
    model = GPTModel(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
    if stop_after:  # a process that dies right after saving the checkpoint of step stop_after
        save = gptedu.resume.TrainingRun.save
        def save_and_stop(run):
            save(run)
            if run.step + 1 == stop_after:
                sys.exit(0)
        gptedu.resume.TrainingRun.save = save_and_stop
    args = (model, train_loader, val_loader, optimizer, "cpu", 2, 4, 1, "Every effort", get_tokenizer())
    train = train_model_simple if function == "simple" else train_model
    train(*args, progress=False, checkpoint=checkpoint, checkpoint_every=stop_after or None, resume=resume)
    ckpt = load_checkpoint(checkpoint)
    weights = sum(float(p.detach().double().sum()) for p in model.parameters())
    print(json.dumps({"step_losses": ckpt.progress["step_losses"], "history": ckpt.progress["history"], "weights": weights}))
""")


def run(tmp_path, *args):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """Both training functions, 2 epochs of 10 steps, never stopped."""
    folder = tmp_path_factory.mktemp("unbroken")
    return {function: run(folder, function, folder / f"{function}.safetensors", 0, "") for function in ("simple", "cosine")}


@pytest.mark.parametrize(("function", "k"), [("simple", 7), ("simple", 10), ("cosine", 13)],
                         ids=["inside-an-epoch", "at-an-epoch-boundary", "train_model-warmup-cosine"])
def test_a_run_resumed_in_a_new_process_equals_the_unbroken_run(unbroken, tmp_path, function, k):
    checkpoint = tmp_path / "ckpt.safetensors"
    first = run(tmp_path, function, checkpoint, k, "")
    assert load_checkpoint(checkpoint).progress["step"] == k - 1
    second = run(tmp_path, function, checkpoint, 0, checkpoint)
    expected, resumed = json.loads(unbroken[function][-1]), json.loads(second[-1])
    assert len(expected["step_losses"]) == 20
    assert resumed["step_losses"] == expected["step_losses"]  # bit-identical floats, all 20 steps
    assert resumed["history"] == expected["history"]
    assert resumed["weights"] == expected["weights"]
    assert first + second[:-1] == unbroken[function][:-1]  # the printed lines continue where they stopped


def test_resume_refuses_a_loader_with_another_number_of_batches(tmp_path, small_cfg):
    text, tokenizer = load_text("the-verdict")[:6000], get_tokenizer()
    train_loader, val_loader = train_val_loaders(text, 32, batch_size=4)
    torch.manual_seed(123)
    model = GPTModel(small_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    args = (train_loader, val_loader, optimizer, "cpu", 1, 100, 1, "Every", tokenizer)
    train_model_simple(model, *args, progress=False, checkpoint=tmp_path / "ckpt.safetensors")
    other_loader, _ = train_val_loaders(text, 32, batch_size=2)
    with pytest.raises(ConfigError, match="10 batches per epoch; this training loader has 20"):
        train_model_simple(model, other_loader, *args[1:], progress=False, resume=tmp_path / "ckpt.safetensors")


def test_checkpoint_every_must_be_a_positive_number_of_steps(tmp_path, small_model):
    train_loader, val_loader = train_val_loaders(load_text("the-verdict")[:6000], 32, batch_size=4)
    optimizer = torch.optim.AdamW(small_model.parameters(), lr=5e-4)
    with pytest.raises(ConfigError, match="checkpoint_every must be a positive integer"):
        train_model_simple(small_model, train_loader, val_loader, optimizer, "cpu", 1, 5, 1, "Every", get_tokenizer(),
                           checkpoint=tmp_path / "c.safetensors", checkpoint_every=0)


def test_gptedu_train_resume_prints_what_an_unbroken_run_prints(tmp_path, verdict):
    import contextlib
    import io

    from gptedu.cli import main

    corpus = tmp_path / "story.txt"
    corpus.write_text(verdict[:4000], encoding="utf-8")
    tiny = ["--emb-dim", "32", "--n-heads", "2", "--n-layers", "1", "--context-length", "32", "--no-progress",
            "--device", "cpu", "--eval-freq", "3", "--eval-iter", "1", "--corpus", str(corpus)]

    def train(*flags):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["train", *tiny, *flags]) == 0
        return [line for line in out.getvalue().splitlines() if line.startswith(("Ep ", "Every effort"))]

    unbroken = train("--epochs", "2", "--out-dir", str(tmp_path / "unbroken"))
    first = train("--epochs", "1", "--out-dir", str(tmp_path / "run"), "--checkpoint")
    second = train("--epochs", "2", "--out-dir", str(tmp_path / "run"), "--resume", str(tmp_path / "run" / "checkpoint.safetensors"))
    assert first + second == unbroken
