"""gptedu.distributed: ``torchrun`` training with DistributedDataParallel, on CPU with gloo.

The main check (the issue's done-when): two processes that each train on half of a batch take
the same AdamW step as one process on the whole batch, within 1e-6 for every parameter
(tests/fixtures/ddp_one_step.py runs under ``torch.distributed.run``). Then ``gptedu train``
under torchrun end to end, and the errors and the single-process no-op path in this process.
Each torchrun launch takes 5-10 s on 2 cores.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from gptedu import GPTDatasetV1, GPTModel, create_dataloader_v1, load_checkpoint
from gptedu.distributed import (
    DistributedInfo,
    cleanup_distributed,
    distributed_loader,
    init_distributed,
    is_main_process,
    print_on_main_only,
    set_sampler_epoch,
    unwrap_model,
    wrap_model,
)
from gptedu.errors import ConfigError, NotEnoughDataError

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import ddp_one_step  # noqa: E402

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
EVAL_LINE = re.compile(r"^Ep (\d+) \(Step (\d{6})\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$")
TINY = ["--n-layers", "1", "--emb-dim", "32", "--n-heads", "2", "--context-length", "16", "--batch-size", "2",
        "--eval-freq", "5", "--eval-iter", "2", "--device", "cpu"]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m torch.distributed.run --nproc_per_node=2 --standalone ARGS`` (a free port each time)."""
    env = {name: value for name, value in os.environ.items() if name not in TORCHRUN_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a 2-core machine
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


# ---------------------------------------------------------------- one step: DDP equals one process on the union


@pytest.fixture(scope="module")
def one_step(tmp_path_factory):
    """Both ranks' results of tests/fixtures/ddp_one_step.py: parameters, gradients, inputs."""
    out_dir = tmp_path_factory.mktemp("ddp_one_step")
    result = torchrun(str(FIXTURES / "ddp_one_step.py"), str(out_dir))
    assert result.returncode == 0, result.stderr
    return [torch.load(out_dir / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]


def step_on(inputs, targets):
    """One step of the fixture's model and optimizer in this process; returns the model."""
    model, optimizer = ddp_one_step.new_model_and_optimizer()
    ddp_model = wrap_model(model, DistributedInfo())  # a single process: the model itself
    assert ddp_model is model
    ddp_one_step.train_step(model, optimizer, inputs, targets)
    return model


def test_the_ranks_trained_on_the_two_halves_of_the_batch(one_step):
    assert [(r["rank"], r["world_size"], r["backend"]) for r in one_step] == [(0, 2, "gloo"), (1, 2, "gloo")]
    inputs, _ = ddp_one_step.fixed_batch()
    seen = [tuple(row.tolist()) for r in one_step for row in r["inputs"]]
    assert [len(r["inputs"]) for r in one_step] == [2, 2]
    assert sorted(seen) == sorted(tuple(row.tolist()) for row in inputs)  # disjoint halves, together the whole batch


def test_both_ranks_hold_the_same_parameters(one_step):
    rank0, rank1 = (r["params"] for r in one_step)
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)


def test_one_ddp_step_equals_one_step_on_the_union_of_the_batches(one_step):
    model = step_on(*ddp_one_step.fixed_batch())
    ddp_params, ddp_grads = one_step[0]["params"], one_step[0]["grads"]
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, ddp_grads[name], rtol=1e-5, atol=1e-7)  # the averaged gradient
        assert (param.detach() - ddp_params[name]).abs().max().item() <= 1e-6, name
    initial, _ = ddp_one_step.new_model_and_optimizer()
    moved = max((param.detach() - ddp_params[name]).abs().max().item() for name, param in initial.named_parameters())
    assert moved > 1e-4  # the step really changed the weights (AdamW's first step moves them by about lr)


def test_one_step_on_one_half_alone_differs(one_step):
    """The comparison above can fail: a rank's half alone gives another step."""
    inputs, targets = ddp_one_step.fixed_batch()
    rows = [i for i, row in enumerate(inputs) if any(torch.equal(row, seen) for seen in one_step[0]["inputs"])]
    model = step_on(inputs[rows], targets[rows])
    difference = max((p.detach() - one_step[0]["params"][name]).abs().max().item() for name, p in model.named_parameters())
    assert difference > 1e-4


# ---------------------------------------------------------------- torchrun -m gptedu train


@pytest.fixture(scope="module")
def story(tmp_path_factory, verdict):
    path = tmp_path_factory.mktemp("corpus") / "story.txt"
    path.write_text(verdict[:4000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ddp_train(tmp_path_factory, story):
    """``torchrun --nproc_per_node=2 -m gptedu train`` for one epoch with --checkpoint, progress bar on."""
    out_dir = tmp_path_factory.mktemp("ddp_run")
    result = torchrun("-m", "gptedu", "train", "--corpus", str(story), "--epochs", "1", *TINY, "--checkpoint",
                      "--out-dir", str(out_dir))
    return result, out_dir


def per_rank_batches(story, tokenizer) -> int:
    text = story.read_text(encoding="utf-8")
    windows = len(GPTDatasetV1(text[: int(0.90 * len(text))], tokenizer, 16, 16))
    return windows // 2 // 2  # dealt out to 2 ranks (the last odd window left out), then batches of 2


def test_torchrun_train_exits_with_0(ddp_train):
    result, _ = ddp_train
    assert result.returncode == 0, result.stderr[-3000:]


def test_torchrun_train_prints_each_line_once(ddp_train, story, tokenizer):
    result, _ = ddp_train
    lines = result.stdout.splitlines()
    steps = [int(m.group(2)) for m in map(EVAL_LINE.match, lines) if m]
    batches = per_rank_batches(story, tokenizer)
    assert steps == list(range(0, batches, 5))  # one line per evaluation: rank 0's only
    for start in ("Characters:", "Training loss:", "Every effort moves you", "Training completed", "Wrote "):
        assert sum(line.startswith(start) for line in lines) == 1, start
    assert f"Processes: 2 (gloo), each training on {batches * 2 * 16} tokens per epoch; effective batch size 2 x 2." in lines
    # A progress bar reached its end; that only rank 0 draws one is checked in tests/test_progress.py (torchrun's
    # log capture turns each redraw into a line of its own, so counting bars here depends on timing).
    assert re.search(r"Training: 100%", result.stderr)


def test_torchrun_train_writes_files_that_load_into_a_plain_model(ddp_train, story, tokenizer):
    _, out_dir = ddp_train
    assert sorted(p.name for p in out_dir.iterdir()) == ["checkpoint.safetensors", "config.json", "history.json",
                                                        "model.pth", "training.png"]
    cfg = json.loads((out_dir / "config.json").read_text())
    state = torch.load(out_dir / "model.pth", weights_only=True)
    assert not [name for name in state if name.startswith("module.")]
    model = GPTModel(cfg)
    model.load_state_dict(state)  # strict: every key as in a single-process run
    ckpt = load_checkpoint(out_dir / "checkpoint.safetensors")
    assert isinstance(ckpt.model, GPTModel)
    assert all(torch.equal(t, state[name]) for name, t in ckpt.model.state_dict().items())
    assert ckpt.progress["batches_per_epoch"] == per_rank_batches(story, tokenizer)


def test_torchrun_train_resumes_from_its_checkpoint(ddp_train, story, tokenizer):
    _, out_dir = ddp_train
    result = torchrun("-m", "gptedu", "train", "--corpus", str(story), "--epochs", "2", *TINY, "--no-progress",
                      "--resume", str(out_dir / "checkpoint.safetensors"), "--out-dir", str(out_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    batches = per_rank_batches(story, tokenizer)
    evaluations = [(int(m.group(1)), int(m.group(2))) for m in map(EVAL_LINE.match, result.stdout.splitlines()) if m]
    assert evaluations == [(2, step) for step in range(batches, 2 * batches) if step % 5 == 0]  # epoch 2 only, once each
    progress = load_checkpoint(out_dir / "checkpoint.safetensors").progress
    assert (progress["epoch"], progress["step"]) == (2, 2 * batches - 1)


# ---------------------------------------------------------------- one process, and errors


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_torchrun_everything_is_a_no_op(no_torchrun, small_model, capsys):
    info = init_distributed("cpu")
    assert info == DistributedInfo(rank=0, local_rank=0, world_size=1, backend=None)
    assert not info.enabled and info.is_main and is_main_process()
    assert not dist.is_initialized()
    assert wrap_model(small_model, info) is small_model
    assert unwrap_model(small_model) is small_model
    loader = DataLoader(list(range(4)), batch_size=2, shuffle=True, drop_last=True)
    assert distributed_loader(loader, info, seed=123) is loader
    set_sampler_epoch(loader, 3)  # no DistributedSampler: nothing to do
    with print_on_main_only(info):
        print("shown")
    cleanup_distributed()
    assert capsys.readouterr().out == "shown\n"


def test_one_process_under_torchrun_is_a_single_process_run(no_torchrun):
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        no_torchrun.setenv(name, value)
    assert init_distributed("cpu") == DistributedInfo()
    assert not dist.is_initialized()


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "2"}, "RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"),
    ({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}, "MASTER_PORT is not set"),
    ({"RANK": "2", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "do not fit together"),
    ({"RANK": "one", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "RANK='one' is not an integer"),
])
def test_incomplete_torchrun_environments_are_refused(no_torchrun, env, message):
    for name, value in env.items():
        no_torchrun.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        init_distributed("cpu")
    assert "torchrun" in str(error.value)
    assert not dist.is_initialized()


def test_devices_without_a_backend_are_refused(no_torchrun):
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for name, value in env.items():
        no_torchrun.setenv(name, value)
    with pytest.raises(ConfigError, match="supports cpu \\(gloo\\) and cuda \\(nccl\\), not 'mps'"):
        init_distributed("mps")
    no_torchrun.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ConfigError, match="LOCAL_RANK=0 needs GPU 0, but this machine has 0"):
        init_distributed("cuda")


def test_wrap_model_needs_the_process_group(small_model):
    with pytest.raises(ConfigError, match="call init_distributed first"):
        wrap_model(small_model, DistributedInfo(rank=0, world_size=2, backend="gloo"))


def test_distributed_loaders_deal_out_the_windows(verdict):
    loader = create_dataloader_v1(verdict[:4000], batch_size=2, max_length=16, stride=16)  # shuffles, drops the last
    ranks = [distributed_loader(loader, DistributedInfo(rank=r, world_size=2, backend="gloo"), seed=123) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(loader.dataset) // 2 // 2

    def windows(rank_loader, epoch):
        set_sampler_epoch(rank_loader, epoch)
        return [tuple(row.tolist()) for inputs, _ in rank_loader for row in inputs]

    first = [windows(r, 0) for r in ranks]
    assert not set(first[0]) & set(first[1])  # no window trained on twice in an epoch
    assert first == [windows(r, 0) for r in ranks]  # the order depends on the seed and the epoch only
    assert windows(ranks[0], 1) != first[0]  # a new order each epoch


def test_too_little_text_for_every_rank_says_what_is_needed(verdict, tokenizer):
    text = verdict[:300]
    loader = create_dataloader_v1(text, batch_size=2, max_length=16, stride=16)
    assert len(loader.dataset) < 2 * 2 * 2  # 4 ranks x batch 2 need 8 windows
    info = DistributedInfo(rank=0, world_size=4, backend="gloo")
    with pytest.raises(NotEnoughDataError) as error:
        distributed_loader(loader, info, seed=123)
    message = str(error.value)
    assert f"4 processes x batch_size 2 need at least 8 training windows ({16 + 7 * 16 + 1} tokens of training text)" in message
    assert f"the training text gives {len(loader.dataset)}" in message
    assert "--nproc_per_node" in message


def test_other_ranks_print_nothing(capsys):
    with print_on_main_only(DistributedInfo(rank=1, world_size=2, backend="gloo")):
        print("hidden")
    assert capsys.readouterr().out == ""
