"""Saving and loading (gptedu/checkpoints.py, gptedu/safe_io.py): round trips, the seed's formats, safety, clear errors.

References in plain sight: the seed's own model code (tests/seed_reference.py) writes the
``.pth`` files that gptedu must read, with ``torch.save`` exactly as the seed does.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import seed_reference as seed
import torch

from gptedu import GPTModel
from gptedu.checkpoints import FORMAT_VERSION, load_checkpoint, load_model, save_checkpoint, save_model
from gptedu.errors import ChecksumError, ConfigError, DataNotFoundError, FormatVersionError, UnsafeFileError
from gptedu.safe_io import atomic_write

TOKENS = torch.tensor([[6109, 3626, 6100, 345], [464, 1110, 1781, 13]])


def logits(model):
    model.eval()
    with torch.no_grad():
        return model(TOKENS)


def trained_optimizer(model):
    """An AdamW after two steps, so its moment buffers hold real values."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.1)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        model(TOKENS).mean().backward()
        optimizer.step()
    return optimizer


# ---------------------------------------------------------------- save_model / load_model


def test_a_saved_model_is_rebuilt_from_the_file_alone_with_identical_logits(small_model, tmp_path):
    path = save_model(small_model, tmp_path / "model.safetensors", verbose=False)
    loaded = load_model(path)
    assert loaded.cfg == small_model.cfg
    assert torch.equal(logits(loaded), logits(small_model))


def test_save_model_prints_the_file_size(small_model, tmp_path, capsys):
    save_model(small_model, tmp_path / "model.safetensors")
    assert capsys.readouterr().out.startswith("Saved model.safetensors: ")


def test_half_precision_export_halves_the_file_and_loads_as_float32(small_model, tmp_path):
    full = save_model(small_model, tmp_path / "fp32.safetensors", verbose=False)
    half = save_model(small_model, tmp_path / "fp16.safetensors", dtype=torch.float16, verbose=False)
    assert half.stat().st_size < 0.52 * full.stat().st_size
    loaded = load_model(half)
    assert loaded.tok_emb.weight.dtype == torch.float32
    torch.testing.assert_close(logits(loaded), logits(small_model), atol=2e-2, rtol=0)


def test_a_tied_output_head_is_saved_once_and_stays_tied(small_cfg, tmp_path):
    model = GPTModel(small_cfg)
    model.out_head.weight = model.tok_emb.weight
    loaded = load_model(save_model(model, tmp_path / "tied.safetensors", verbose=False))
    assert loaded.out_head.weight is loaded.tok_emb.weight
    assert torch.equal(logits(loaded), logits(model))


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def failing_writer(temporary):
        temporary.write_bytes(b"half of the new con")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, failing_writer)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


# ---------------------------------------------------------------- the seed's .pth files


def seed_model(cfg):
    torch.manual_seed(123)
    return seed.GPTModel(cfg)


def test_a_seed_state_dict_pth_loads_with_the_same_logits(small_cfg, tmp_path):
    reference = seed_model(small_cfg)
    torch.save(reference.state_dict(), tmp_path / "model.pth")  # the seed's code
    loaded = load_model(tmp_path / "model.pth", cfg=small_cfg)
    torch.testing.assert_close(logits(loaded), logits(reference), atol=1e-5, rtol=0)


def test_a_seed_pth_finds_the_config_json_beside_it(small_cfg, tmp_path):
    reference = seed_model(small_cfg)
    torch.save(reference.state_dict(), tmp_path / "model.pth")
    (tmp_path / "config.json").write_text(json.dumps(small_cfg))  # as `gptedu train` writes
    torch.testing.assert_close(logits(load_model(tmp_path / "model.pth")), logits(reference), atol=1e-5, rtol=0)


def test_the_seeds_model_and_optimizer_checkpoint_restores_both(small_cfg, tmp_path):
    reference = seed_model(small_cfg)
    optimizer = trained_optimizer(reference)
    torch.save({"model_state_dict": reference.state_dict(), "optimizer_state_dict": optimizer.state_dict()},
               tmp_path / "model_and_optimizer.pth")  # the seed's section 9
    model = GPTModel(small_cfg)
    new_optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.1)
    load_checkpoint(tmp_path / "model_and_optimizer.pth", model, new_optimizer)
    torch.testing.assert_close(logits(model), logits(reference), atol=1e-5, rtol=0)
    for before, after in zip(optimizer.state.values(), new_optimizer.state.values(), strict=True):
        assert torch.equal(before["exp_avg"], after["exp_avg"]) and torch.equal(before["exp_avg_sq"], after["exp_avg_sq"])


class WritesAMarker:
    """A pickle that, when unpickled, would run code: here it would create a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("load", [load_model, load_checkpoint])
def test_a_pth_that_would_run_code_is_refused_and_the_code_never_runs(small_model, tmp_path, load):
    marker = tmp_path / "code_ran.txt"
    torch.save({"model_state_dict": small_model.state_dict(), "payload": WritesAMarker(marker)}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeFileError, match="Refused to load evil.pth: it holds pickled Python objects"):
        load(tmp_path / "evil.pth")
    assert not marker.exists()


# ---------------------------------------------------------------- damaged files and clear errors


def flip_byte(path, position):
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_truncated_model_file_is_reported_as_truncated_or_corrupted(small_model, tmp_path):
    path = save_model(small_model, tmp_path / "model.safetensors", verbose=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ChecksumError, match="truncated or corrupted"):
        load_model(path)


def test_a_truncated_pth_is_reported_as_truncated_or_corrupted(small_model, tmp_path):
    path = tmp_path / "model.pth"
    torch.save(small_model.state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ChecksumError, match="truncated or corrupted"):
        load_model(path, cfg=small_model.cfg)


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_a_flipped_byte_fails_the_checksum(small_model, tmp_path, kind):
    path = tmp_path / f"{kind}.safetensors"
    if kind == "model":
        save_model(small_model, path, verbose=False)
    else:
        save_checkpoint(path, small_model, trained_optimizer(small_model))
    flip_byte(path, path.stat().st_size - 1000)  # inside the tensor data
    with pytest.raises(ChecksumError, match="SHA-256"):
        (load_model if kind == "model" else load_checkpoint)(path)


def test_weights_with_other_shapes_name_the_tensors_that_differ(small_model, small_cfg, tmp_path):
    path = save_model(small_model, tmp_path / "model.safetensors", verbose=False)
    with pytest.raises(ConfigError, match=r"different shapes: tok_emb.weight: \(50257, 32\) in model.safetensors, \(50257, 64\)"):
        load_model(path, cfg={**small_cfg, "emb_dim": 64})


def test_weights_with_fewer_layers_name_the_missing_tensors(small_model, small_cfg, tmp_path):
    path = save_model(small_model, tmp_path / "model.safetensors", verbose=False)
    with pytest.raises(ConfigError, match=r"missing from model.safetensors: trf_blocks.2.att.W_key.weight"):
        load_model(path, cfg={**small_cfg, "n_layers": 3})


def test_a_seed_pth_with_the_wrong_config_names_the_unexpected_tensors(small_cfg, tmp_path):
    torch.save(seed_model({**small_cfg, "qkv_bias": True}).state_dict(), tmp_path / "model.pth")
    with pytest.raises(ConfigError, match=r"not in the model: trf_blocks.0.att.W_key.bias"):
        load_model(tmp_path / "model.pth", cfg=small_cfg)


def test_a_file_from_a_newer_format_asks_to_upgrade_gptedu(small_model, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "future.safetensors"
    meta = {"kind": "model", "config": small_model.cfg, "tied_output_head": False, "format_version": FORMAT_VERSION + 1}
    save_file({"tok_emb.weight": torch.zeros(2, 2)}, str(path), metadata={"gptedu": json.dumps(meta), "sha256": "0"})
    with pytest.raises(FormatVersionError, match="Upgrade gptedu"):
        load_model(path)


@pytest.mark.parametrize("load", [load_model, load_checkpoint])
@pytest.mark.parametrize("name", ["missing.safetensors", "missing.pth"])
def test_a_missing_file_is_a_file_not_found_error_that_names_it(tmp_path, load, name):
    with pytest.raises(DataNotFoundError, match=f"No such file: .*{name}"):
        load(tmp_path / name)
    assert issubclass(DataNotFoundError, FileNotFoundError)


def test_loading_errors_are_value_errors():
    for error in (ChecksumError, ConfigError, FormatVersionError, UnsafeFileError):
        assert issubclass(error, ValueError)


# ---------------------------------------------------------------- checkpoints


def test_a_checkpoint_restores_model_optimizer_and_progress(small_model, small_cfg, tmp_path):
    optimizer = trained_optimizer(small_model)
    path = save_checkpoint(tmp_path / "ckpt.safetensors", small_model, optimizer, progress={"epoch": 3, "tokens_seen": 9216})
    model = GPTModel(small_cfg)
    new_optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)
    ckpt = load_checkpoint(path, model, new_optimizer)
    assert ckpt.progress == {"epoch": 3, "tokens_seen": 9216}
    assert torch.equal(logits(model), logits(small_model))
    before, after = optimizer.state_dict(), new_optimizer.state_dict()
    assert before["param_groups"] == after["param_groups"]
    for index, values in before["state"].items():
        for name, value in values.items():
            assert torch.equal(value, after["state"][index][name])


def test_load_model_reads_the_model_of_a_checkpoint(small_model, tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.safetensors", small_model, trained_optimizer(small_model))
    assert torch.equal(logits(load_model(path)), logits(small_model))


def test_a_checkpoint_for_another_optimizer_is_refused(small_model, tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.safetensors", small_model, trained_optimizer(small_model))
    with pytest.raises(ConfigError, match="AdamW optimizer, not of a SGD"):
        load_checkpoint(path, small_model, torch.optim.SGD(small_model.parameters(), lr=0.1))


SAVER = textwrap.dedent("""
    import sys
    import torch
    import gptedu.checkpoints
    from gptedu import GPTModel
    from gptedu.checkpoints import save_checkpoint

    atomic_write = gptedu.checkpoints.atomic_write

    def announced_atomic_write(path, write):  # tell the test when the bytes start to go to the disk
        def announced(temporary):
            print("writing", flush=True)
            write(temporary)
        return atomic_write(path, announced)

    gptedu.checkpoints.atomic_write = announced_atomic_write
    torch.manual_seed(0)
    cfg = {"vocab_size": 20000, "context_length": 32, "emb_dim": 64, "n_heads": 2, "n_layers": 2, "drop_rate": 0.1, "qkv_bias": False}
    model = GPTModel(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for i in range(10**9):
        with torch.no_grad():
            model.tok_emb.weight.add_(1.0)  # every save has different content
        save_checkpoint(sys.argv[1], model, optimizer, progress={"saves": i})
""")


def test_killing_a_process_while_it_saves_never_breaks_the_latest_checkpoint(tmp_path):
    """SIGKILL at random moments of the 2nd to 6th save; after each kill the last complete checkpoint loads and verifies."""
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    path = tmp_path / "ckpt.safetensors"
    rng, saves_seen, killed_mid_write, kills = random.Random(0), [], 0, 10
    for _ in range(kills):
        process = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(rng.randint(2, 6)):
            assert process.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.0, 0.01))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
        killed_mid_write += (tmp_path / ".ckpt.safetensors.partial").exists()
        saves_seen.append(load_checkpoint(path).progress["saves"])  # raises if the file were damaged
    print(f"saves completed before each kill: {saves_seen}; killed during a write: {killed_mid_write} of {kills}")
    assert killed_mid_write > 0, "no kill fell inside a write: the test did not test atomicity"


@pytest.mark.parametrize("name", ["model.pth", "model.pt", "model", "model.safetensors.tmp"])
@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_saving_under_a_name_that_is_not_safetensors_is_refused_and_writes_nothing(small_model, tmp_path, kind, name):
    path = tmp_path / name
    with pytest.raises(ConfigError, match=r"must end in\s+\.safetensors") as error:
        if kind == "model":
            save_model(small_model, path, verbose=False)
        else:
            save_checkpoint(path, small_model, trained_optimizer(small_model))
    assert "torch.save(model.state_dict(), path)" in str(error.value)
    assert list(tmp_path.iterdir()) == []
