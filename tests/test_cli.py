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
    assert "--emb-dim 30 must be divisible by --n-heads 4" in err
    assert "for example --n-heads 3" in err


def test_context_longer_than_the_text_exits_with_2_and_says_what_to_change(small_corpus, tmp_path):
    code, _, err = run_main(["train", *TINY, "--context-length", "2000", "--corpus", str(small_corpus),
                             "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert "context_length=2000" in err
    assert "Lower context_length" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "--epochs must be a positive integer; got 0"),
        (["--eval-freq", "0"], "--eval-freq must be a positive integer; got 0"),
        (["--batch-size", "0"], "--batch-size must be a positive integer; got 0"),
        (["--train-ratio", "1.5"], "--train-ratio must be a number in (0, 1); got 1.5"),
        (["--schedule", "warmup-cosine", "--warmup-steps", "1000"], "warmup_steps must be between 0 and the number of steps"),
        (["--compile"], "--compile is part of the fast path: add --fast"),
        (["--quick-dropout"], "--quick-dropout is part of the fast path: add --fast"),
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
    assert_one_line(err)
    assert err.startswith("gptedu: error: --device cuda: Device 'cuda' ")
    assert "is not available on this machine" in err


def test_interrupted_training_saves_the_weights_so_far(small_corpus, tmp_path, monkeypatch):
    import gptedu.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gptedu.training, "train_model_simple", interrupted)
    code, lines, _ = run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run")])
    assert code == 130
    assert (tmp_path / "run" / "model_interrupted.pth").is_file()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["emb_dim"] == 32  # load_model finds it beside the weights
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


# ---------------------------------------------------------------- bad input: one line, the flag's name, exit code 2


@pytest.fixture
def nothing_may_load(monkeypatch):
    """Make loading a text, building a model or setting up a device fail the test: flags are checked before."""
    import gptedu.data
    import gptedu.distributed
    import gptedu.model

    def loaded(*args, **kwargs):
        raise AssertionError("something was loaded before the flags were checked")

    for module, name in ((gptedu.data, "load_text"), (gptedu.model, "GPTModel"), (gptedu.distributed, "init_distributed")):
        monkeypatch.setattr(module, name, loaded)


def run_cli(argv):
    """Run main(argv), also when argparse exits; return the exit code and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    return code, err.getvalue()


def assert_one_line(err, start="gptedu: error: "):
    assert err.startswith(start), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err


WC = ["--schedule", "warmup-cosine"]
BAD_TRAIN_FLAGS = [
    (["--checkpoint-every", "0"], "--checkpoint-every must be a positive integer; got 0"),
    ([*WC, "--accumulation-steps", "0"], "--accumulation-steps must be a positive integer; got 0"),
    (["--accumulation-steps", "0"], "--accumulation-steps must be a positive integer; got 0"),  # whatever the schedule
    (["--lr", "nan"], "--lr must be a finite number; got nan"),
    (["--lr", "-1"], "--lr must be greater than 0; got -1.0"),
    (["--lr", "inf"], "--lr must be a finite number; got inf"),
    (["--device", "tpu"], "--device must be 'cpu', 'cuda', 'cuda:N' (N: a GPU number) or 'mps'; got 'tpu'"),
    (["--device", "cuda:x"], "--device must be 'cpu', 'cuda', 'cuda:N'"),
    (["--epochs", "0"], "--epochs must be a positive integer; got 0"),
    (["--batch-size", "-2"], "--batch-size must be a positive integer; got -2"),
    (["--context-length", "0"], "--context-length must be a positive integer; got 0"),
    (["--n-layers", "0"], "--n-layers must be a positive integer; got 0"),
    (["--n-heads", "0"], "--n-heads must be a positive integer; got 0"),
    (["--emb-dim", "30", "--n-heads", "4"], "--emb-dim 30 must be divisible by --n-heads 4"),
    (["--drop-rate", "1.0"], "--drop-rate must be a number in [0, 1); got 1.0"),
    (["--train-ratio", "0"], "--train-ratio must be a number in (0, 1); got 0.0"),
    (["--train-ratio", "nan"], "--train-ratio must be a finite number; got nan"),
    (["--weight-decay", "-0.1"], "--weight-decay must be >= 0; got -0.1"),
    (["--eval-freq", "0"], "--eval-freq must be a positive integer; got 0"),
    (["--eval-iter", "0"], "--eval-iter must be a positive integer; got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0; got -1"),
    (["--start-context", ""], "--start-context must not be empty; got ''"),
    ([*WC, "--warmup-steps", "-1"], "--warmup-steps must be an integer >= 0; got -1"),
    ([*WC, "--initial-lr=-1e-5"], "--initial-lr must be >= 0; got -1e-05"),
    ([*WC, "--min-lr", "nan"], "--min-lr must be a finite number; got nan"),
    ([*WC, "--max-norm", "0"], "--max-norm must be greater than 0; got 0.0"),
    (["--max-norm", "1"], "--max-norm only work with --schedule warmup-cosine"),
    (["--compile"], "--compile is part of the fast path: add --fast"),
    (["--corpus", "no-such-corpus"], "--corpus no-such-corpus: no such file, and it is not a known corpus name (the-verdict)"),
    (["--resume", "no-such.safetensors"], "--resume no-such.safetensors: no such file."),
]


@pytest.mark.parametrize(("flags", "message"), BAD_TRAIN_FLAGS, ids=[" ".join(flags) for flags, _ in BAD_TRAIN_FLAGS])
def test_a_flag_that_cannot_work_is_one_line_naming_it_before_anything_loads(small_corpus, tmp_path, nothing_may_load,
                                                                             flags, message):
    code, err = run_cli(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run"), *flags])
    assert code == 2
    assert_one_line(err)
    assert err.startswith(f"gptedu: error: {message}")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--epochs", "abc"], "gptedu train: error: argument --epochs: invalid int value: 'abc'. See `gptedu train --help`."),
    (["--lr", "fast"], "gptedu train: error: argument --lr: invalid float value: 'fast'. See `gptedu train --help`."),
    (["--schedule", "cosine"], "gptedu train: error: argument --schedule: invalid choice: 'cosine'"),
    (["--epochz", "3"], "gptedu: error: unrecognized arguments: --epochz 3. Did you mean --epochs? See `gptedu train --help`."),
])
def test_a_flag_argparse_cannot_read_is_one_line_too(nothing_may_load, flags, message):
    code, err = run_cli(["train", *flags])
    assert code == 2
    assert_one_line(err, start=message.split(":")[0] + ": error: ")
    assert message in err


def test_resume_from_a_file_that_is_not_a_checkpoint_says_what_it_is(small_corpus, small_model, tmp_path, nothing_may_load):
    (tmp_path / "notes.txt").write_text("my notes\n")
    torch.save(small_model.state_dict(), tmp_path / "model.pth")
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 4)
    for path, kind in ((small_corpus, "a text file (it starts with "), (tmp_path / "model.pth", "a PyTorch file written by torch.save"),
                       (tmp_path / "random.bin", "binary data in no format gptedu knows")):
        code, err = run_cli(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "run"), "--resume", str(path)])
        assert code == 2
        assert_one_line(err)
        assert err.startswith(f"gptedu: error: --resume needs a training checkpoint that `gptedu train --checkpoint` wrote; "
                              f"{path} is {kind}")


def test_out_dir_that_is_a_file_or_corpus_that_is_a_folder(small_corpus, tmp_path, nothing_may_load):
    code, err = run_cli(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(small_corpus)])
    assert (code, err) == (2, f"gptedu: error: --out-dir {small_corpus} is a file, not a folder. Pass a folder name "
                              "(it is created if needed).\n")
    code, err = run_cli(["train", *TINY, "--corpus", str(tmp_path), "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert_one_line(err)
    assert err.startswith(f"gptedu: error: --corpus {tmp_path} is a folder. Pass one text file, or tokenize")


def test_train_does_not_overwrite_files_it_did_not_write_without_force(small_corpus, tmp_path, nothing_may_load):
    from gptedu.cli import check_train_args

    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    (out_dir / "model.pth").write_bytes(b"my own weights")
    argv = ["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(out_dir)]
    code, err = run_cli(argv)
    assert code == 2
    assert_one_line(err)
    assert err.startswith(f"gptedu: error: --out-dir {out_dir} already holds model.pth, which gptedu train did not write")
    assert "add --force" in err
    assert (out_dir / "model.pth").read_bytes() == b"my own weights"
    check_train_args(build_parser().parse_args([*argv, "--force"]))  # asked for: no error
    (out_dir / "config.json").write_text(json.dumps(GPT_CONFIG_124M))  # an earlier run's folder: written over as before
    check_train_args(build_parser().parse_args(argv))


def test_train_refuses_a_corpus_inside_its_own_outputs(tmp_path, verdict, nothing_may_load):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "history.json").write_text(verdict[:4000])
    code, err = run_cli(["train", *TINY, "--corpus", str(out_dir / "history.json"), "--out-dir", str(out_dir), "--force"])
    assert code == 2
    assert_one_line(err)
    assert "is one of the files gptedu train writes into --out-dir" in err


def test_a_corpus_that_is_not_utf8_is_one_line_with_the_byte(tmp_path):
    corpus = tmp_path / "latin.txt"
    corpus.write_bytes(b"Every effort moves you\nto caf\xe9s\n" * 10)
    code, err = run_cli(["train", *TINY, "--corpus", str(corpus), "--out-dir", str(tmp_path / "run")])
    assert code == 2
    assert_one_line(err)
    assert err.startswith(f"gptedu: error: {corpus} is not UTF-8 text: byte 0xE9 at byte offset 29 (line 2)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin.txt"]  # no run folder, no temporary file


def test_prepare_of_a_file_that_is_not_utf8_is_one_line_and_leaves_nothing(tmp_path):
    source = tmp_path / "latin.txt"
    source.write_bytes(b"Every effort moves you\nto caf\xe9s\n" * 10)
    code, err = run_cli(["prepare", str(source), str(tmp_path / "corpus.bin")])
    assert code == 2
    assert_one_line(err)
    assert err.startswith(f"gptedu: error: {source} is not UTF-8 text: byte 0xE9 at byte offset 29 (line 2)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin.txt"]  # no output, no *.partial left behind
    assert source.read_bytes() == b"Every effort moves you\nto caf\xe9s\n" * 10


@pytest.mark.parametrize(("argv", "message"), [
    (["prepare", "SRC", "OUT", "--workers", "-1"], "--workers must be a positive integer; got -1"),
    (["prepare", "SRC", "OUT", "--workers", "0"], "--workers must be a positive integer; got 0"),
    (["prepare", "SRC", "SRC"], "Refused to write SRC: it is the input file itself"),
    (["download", "999M"], "Unknown GPT-2 size '999M'"),
    (["download", "124M", "--source", "openai", "--models-dir", "SRC"], "--models-dir SRC is a file, not a folder"),
])
def test_prepare_and_download_bad_input_is_one_line(small_corpus, tmp_path, argv, message):
    argv = [str(small_corpus) if a == "SRC" else str(tmp_path / "out.bin") if a == "OUT" else a for a in argv]
    code, err = run_cli(argv)
    assert code == 2
    assert_one_line(err)
    assert message.replace("SRC", str(small_corpus)) in err
    assert small_corpus.read_text(encoding="utf-8").startswith("I HAD always thought")
    assert not (tmp_path / "out.bin").exists()


def test_a_file_system_error_is_one_line_with_exit_code_1(small_corpus, tmp_path, monkeypatch):
    import gptedu.corpus

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gptedu.corpus, "atomic_write", disk_full)
    code, err = run_cli(["prepare", str(small_corpus), str(tmp_path / "out.bin"), "--workers", "1", "--no-progress"])
    assert code == 1
    assert err == "gptedu: error: [Errno 28] No space left on device (add --debug for the traceback)\n"


def test_the_real_command_prints_one_line_and_debug_shows_the_traceback(tmp_path):
    command = [sys.executable, "-m", "gptedu", "train", "--lr", "nan", "--out-dir", str(tmp_path / "run")]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2
    assert plain.stderr == "gptedu: error: --lr must be a finite number; got nan. The seed uses 0.0004.\n"
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert debug.stderr.rstrip().endswith("gptedu.errors.ConfigError: --lr must be a finite number; got nan. The seed uses 0.0004.")


def test_train_on_a_text_with_endoftext_counts_the_tokens_the_loaders_use(tmp_path, verdict, tokenizer):
    from gptedu import GPTDatasetV1

    text = verdict[:2000] + "<|endoftext|>" + verdict[2000:4000]
    corpus = tmp_path / "two.txt"
    corpus.write_text(text, encoding="utf-8")
    code, lines, err = run_main(["train", *TINY, "--corpus", str(corpus), "--eval-freq", "50", "--out-dir", str(tmp_path / "run")])
    assert code == 0, err
    ids = GPTDatasetV1(text, tokenizer, 32, 32).token_ids.tolist()
    assert ids.count(50256) == 1
    assert lines[1] == f"Tokens: {len(ids)}"


# --- help, typos and starting from saved weights ---------------------------------------------------------


def test_train_help_names_each_default_once_and_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "(default: 2) (default: 2)" not in text and "(default: None)" not in text
    assert text.count("(default: 0.0004)") == 1
    parser = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    silent = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert silent == []


@pytest.mark.parametrize(("argv", "suggestion", "see"), [
    (["train", "--epocs", "1"], "Did you mean --epochs?", "See `gptedu train --help`."),
    (["prepare", "a.txt", "b.bin", "--wrokers", "2"], "Did you mean --workers?", "See `gptedu prepare --help`."),
    (["train", "--zzzzzz"], "", "See `gptedu train --help`."),
])
def test_a_mistyped_flag_suggests_the_closest_and_the_commands_help(argv, suggestion, see):
    code, err = run_cli(argv)
    assert code == 2
    assert_one_line(err)
    assert suggestion in err and err.rstrip().endswith(see)


def test_init_from_starts_a_new_run_from_the_weights_of_an_earlier_one(small_corpus, tmp_path):
    first = tmp_path / "first"
    code, lines, err = run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(first), "--epochs", "3",
                                 "--lr", "0.005"])  # 42 steps at a high rate: the tiny model learns the story's words
    assert code == 0, err
    code, again, err = run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "second"),
                                 "--init-from", str(first / "model.pth")])
    assert code == 0, err

    def baseline(output):
        return float(next(line for line in output if line.startswith("Training loss:")).split(":")[1])

    # the second run starts where the first ended: its loss before training is far below the random model's
    assert baseline(again) < baseline(lines) - 2.0
    assert any(line.startswith("Ep 1 (Step 000000)") for line in again)


def test_init_from_with_other_shapes_or_with_resume_is_one_line(small_corpus, tmp_path):
    first = tmp_path / "first"
    assert run_main(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(first)])[0] == 0
    wider = [*TINY[:1], "64", *TINY[2:]]  # --emb-dim 64 instead of 32
    code, err = run_cli(["train", *wider, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "b"),
                         "--init-from", str(first / "model.pth")])
    assert code == 2
    assert_one_line(err)
    assert "--init-from" in err and "--emb-dim" in err and "tok_emb.weight" in err
    code, err = run_cli(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "c"),
                         "--init-from", str(first / "model.pth"), "--resume", str(first / "model.pth")])
    assert (code, err.startswith("gptedu: error: --init-from starts a new run")) == (2, True)
    (tmp_path / "notes.txt").write_text("my notes\n")
    code, err = run_cli(["train", *TINY, "--corpus", str(small_corpus), "--out-dir", str(tmp_path / "d"),
                         "--init-from", str(tmp_path / "notes.txt")])
    assert code == 2
    assert_one_line(err)
    assert "--init-from" in err and "a text file" in err
