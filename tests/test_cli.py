"""gptedu.cli: ``gptedu train`` runs the seed's pretraining from a terminal and saves what it made.

The runs use a tiny model (1 layer of width 32, context 32) for one epoch so they take seconds;
the defaults are the seed's run, checked in test_defaults_are_the_seeds_run.
"""

import contextlib
import io
import json
import re
import subprocess
import sys

import pytest
import seed_reference as seed
import torch

from gptedu import GPT_CONFIG_124M, GPTModel
from gptedu.cli import build_parser, main

TINY = ["--emb-dim", "32", "--n-heads", "2", "--n-layers", "1", "--context-length", "32", "--epochs", "1", "--no-progress",
        "--device", "cpu"]
EVAL_LINE = re.compile(r"^Ep \d+ \(Step \d{6}\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$")


def run_main(argv):
    """Run gptedu.cli.main(argv); return its exit code, stdout lines and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue().splitlines(), err.getvalue()


@pytest.fixture(scope="module")
def simple_run(tmp_path_factory):
    """``gptedu train`` on the-verdict with the tiny model and the seed's constant learning rate."""
    out_dir = tmp_path_factory.mktemp("run")
    code, lines, err = run_main(["train", *TINY, "--eval-freq", "10", "--eval-iter", "2", "--out-dir", str(out_dir)])
    return code, lines, err, out_dir


@pytest.fixture
def small_corpus(tmp_path, verdict):
    path = tmp_path / "story.txt"
    path.write_text(verdict[:4000], encoding="utf-8")
    return path


def test_train_exits_with_0(simple_run):
    code, _, err, _ = simple_run
    assert code == 0, err


def test_train_prints_the_seeds_data_summary(simple_run, verdict, tokenizer):
    _, lines, _, _ = simple_run
    split_idx = int(0.90 * len(verdict))
    train_windows = len(seed.GPTDatasetV1(verdict[:split_idx], tokenizer, 32, 32))
    val_windows = len(seed.GPTDatasetV1(verdict[split_idx:], tokenizer, 32, 32))
    assert lines[:5] == [
        "Characters: 20479",
        "Tokens: 5145",
        f"Training tokens: {train_windows // 2 * 2 * 32}",  # batch 2, drop_last: whole batches only
        f"Validation tokens: {val_windows * 32}",
        "Using cpu device.",
    ]


def test_train_prints_baseline_losses_before_training(simple_run):
    _, lines, _, _ = simple_run
    assert re.fullmatch(r"Training loss: \d+\.\d+", lines[5])
    assert re.fullmatch(r"Validation loss: \d+\.\d+", lines[6])


def test_train_prints_the_seeds_evaluation_lines_and_a_sample(simple_run):
    _, lines, _, _ = simple_run
    training = lines[7:-2]
    assert all(EVAL_LINE.match(line) for line in training[:-1])
    assert training[-1].startswith("Every effort moves you")  # the sample after the one epoch


def test_train_prints_its_time_and_what_it_wrote(simple_run):
    _, lines, _, out_dir = simple_run
    assert re.match(r"Training completed in \d+\.\d{2} minutes \(\d+\.\d tokens/s including evaluation\)\.$", lines[-2])
    assert lines[-1] == f"Wrote {out_dir / 'model.pth'}, config.json, history.json and training.png."


def test_train_writes_the_config_it_trained(simple_run):
    _, _, _, out_dir = simple_run
    config = json.loads((out_dir / "config.json").read_text())
    assert config == {**GPT_CONFIG_124M, "emb_dim": 32, "n_heads": 2, "n_layers": 1, "context_length": 32}


def test_train_writes_weights_that_load_into_gpt_model(simple_run):
    _, _, _, out_dir = simple_run
    config = json.loads((out_dir / "config.json").read_text())
    model = GPTModel(config)
    model.load_state_dict(torch.load(out_dir / "model.pth", map_location="cpu", weights_only=True), strict=True)


def test_train_writes_the_history_it_printed(simple_run):
    _, lines, _, out_dir = simple_run
    history = json.loads((out_dir / "history.json").read_text())
    assert len(history["train_losses"]) == len(history["val_losses"]) == len(history["tokens_seen"]) > 0
    printed = [line for line in lines if EVAL_LINE.match(line)]
    assert printed[0].endswith(f"Train loss {history['train_losses'][0]:.3f}, Val loss {history['val_losses'][0]:.3f}")
    assert history["seconds"] > 0


def test_train_writes_a_png_of_the_curves(simple_run):
    _, _, _, out_dir = simple_run
    assert (out_dir / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warmup_cosine_schedule_trains_and_writes_its_files(small_corpus, tmp_path):
    out_dir = tmp_path / "run"
    code, lines, err = run_main(["train", *TINY, "--corpus", str(small_corpus), "--schedule", "warmup-cosine", "--eval-freq", "5",
                                 "--out-dir", str(out_dir)])
    assert code == 0, err
    assert lines[0] == "Characters: 4000"
    assert any(EVAL_LINE.match(line) for line in lines)
    assert sorted(path.name for path in out_dir.iterdir()) == ["config.json", "history.json", "model.pth", "training.png"]


def test_missing_corpus_file_exits_with_2_and_names_it(tmp_path):
    missing = tmp_path / "missing.txt"
    code, _, err = run_main(["train", *TINY, "--corpus", str(missing), "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert err.startswith("gptedu: error: ")
    assert str(missing) in err
    assert not (tmp_path / "run").exists()


def test_impossible_model_config_exits_with_2_and_says_what_to_change(small_corpus, tmp_path):
    code, _, err = run_main(["train", *TINY, "--emb-dim", "30", "--n-heads", "4", "--corpus", str(small_corpus),
                             "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert "emb_dim (30) must be divisible by n_heads (4)" in err


def test_context_longer_than_the_text_exits_with_2_and_says_what_to_change(small_corpus, tmp_path):
    code, _, err = run_main(["train", *TINY, "--context-length", "2000", "--corpus", str(small_corpus),
                             "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert "context_length=2000" in err
    assert "Lower context_length" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "num_epochs must be a positive integer; got 0"),
        (["--eval-freq", "0"], "eval_freq must be a positive integer; got 0"),
        (["--batch-size", "0"], "batch_size must be a positive integer; got 0"),
        (["--train-ratio", "1.5"], "train_ratio must be between 0 and 1"),
        (["--schedule", "warmup-cosine", "--warmup-steps", "1000"], "warmup_steps must be between 0 and the number of steps"),
        (["--compile"], "--compile is part of the fast path: add --fast"),
        (["--accumulation-steps", "2"], "--accumulation-steps only work with --schedule warmup-cosine"),
    ],
)
def test_setting_that_cannot_work_exits_with_2_and_a_message(small_corpus, tmp_path, flags, message):
    code, _, err = run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run"), *flags])
    assert code == 2
    assert err.startswith("gptedu: error: ")
    assert message in err


def test_unavailable_device_exits_with_2_and_a_message(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_main(["train", *TINY, "--device", "cuda", "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert "Device 'cuda' is not available on this machine" in err


def test_interrupted_training_saves_the_weights_so_far(small_corpus, tmp_path, monkeypatch):
    import gptedu.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gptedu.training, "train_model_simple", interrupted)
    code, lines, _ = run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run")])
    assert code == 130
    assert (tmp_path / "run" / "model_interrupted.pth").is_file()
    assert lines[-1].startswith("Interrupted: the weights so far are saved in")


def test_defaults_are_the_seeds_run():
    args = build_parser().parse_args(["train"])
    assert (args.context_length, args.emb_dim, args.n_heads, args.n_layers, args.drop_rate) == (256, 768, 12, 12, 0.1)
    assert (args.corpus, args.train_ratio, args.batch_size) == ("the-verdict", 0.90, 2)
    assert (args.epochs, args.lr, args.weight_decay, args.eval_freq, args.eval_iter, args.seed) == (10, 0.0004, 0.1, 5, 5, 123)
    assert (args.start_context, args.schedule) == ("Every effort moves you", "simple")


def test_a_command_is_required():
    with pytest.raises(SystemExit) as excinfo, contextlib.redirect_stderr(io.StringIO()):
        main([])
    assert excinfo.value.code == 2


def test_python_m_gptedu_train_help_exits_with_0():
    result = subprocess.run([sys.executable, "-m", "gptedu", "train", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--schedule {simple,warmup-cosine}" in result.stdout
    assert "--out-dir" in result.stdout


def test_schedule_flags_without_warmup_cosine_are_refused(tmp_path, capsys):
    from gptedu.cli import main

    assert main(["train", "--warmup-steps", "5", "--out-dir", str(tmp_path)]) == 2
    assert "--warmup-steps only work with --schedule warmup-cosine" in capsys.readouterr().err


def test_fast_flag_trains_on_the_fast_path_and_says_so(small_corpus, tmp_path):
    from gptedu.fast_path import fast_path_for

    out_dir = tmp_path / "run"
    code, lines, err = run_main(["train", *TINY, "--fast", "--corpus", str(small_corpus), "--eval-freq", "5", "--out-dir", str(out_dir)])
    assert code == 0, err
    assert f"Fast path: {fast_path_for('cpu').describe()}" in lines
    assert any(EVAL_LINE.match(line) for line in lines)
    model = GPTModel(json.loads((out_dir / "config.json").read_text()))  # a fast-trained model loads like any other
    model.load_state_dict(torch.load(out_dir / "model.pth", map_location="cpu", weights_only=True), strict=True)


def test_the_default_run_is_the_faithful_path(simple_run):
    _, lines, _, _ = simple_run
    assert not any(line.startswith("Fast path:") for line in lines)


def test_accumulation_steps_train_with_the_warmup_cosine_loop(small_corpus, tmp_path):
    code, lines, err = run_main(["train", *TINY, "--schedule", "warmup-cosine", "--accumulation-steps", "2", "--eval-freq", "5",
                                 "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run")])
    assert code == 0, err
    assert any(EVAL_LINE.match(line) for line in lines)
