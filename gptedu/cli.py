"""The ``gptedu`` command: ``gptedu train`` runs the seed's pretraining from a terminal.

``gptedu train`` with no options repeats the seed's run: the 124M model with context 256 on
``the-verdict``, AdamW (lr 0.0004, weight decay 0.1), 10 epochs, batch size 2, evaluation
every 5 steps on 5 batches, seeded with 123 in the seed's order. Every value is a flag
(``gptedu train --help``). It writes the weights, the config, the loss history and a PNG of
the loss and perplexity curves to ``--out-dir``; with ``--checkpoint`` also
``checkpoint.safetensors`` (model, AdamW, step, random states: notebook 06), from which
``--resume`` continues exactly as if the run had never stopped, for example one more epoch
with ``--epochs 11``.

Every flag is checked before anything is loaded (``check_train_args``): a value that cannot
work stops the command with one line on stderr naming the flag, and exit code 2. Any other
gptedu error met later is also printed as one line (exit code 2; a file-system error: 1),
never as a traceback; ``--debug`` shows the traceback. No command writes over its input, or
over a file it did not write unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .corpus import add_prepare_command, run_prepare
from .doctor import add_doctor_command, run_doctor
from .errors import ConfigError, DataNotFoundError, FileKindError, GPTEduError, OverwriteRefusedError
from .exercises.grading import add_grade_command, run_grade
from .prefetch import add_download_command, run_download
from .safe_io import atomic_write, inspect_file
from .validation import (
    check_device_name,
    check_float,
    check_int,
    check_int_between,
    check_interval,
    check_path,
    check_text,
)

if TYPE_CHECKING:
    from .distributed import DistributedInfo


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--corpus", default="the-verdict",
                      help="corpus name, path of a UTF-8 text file, or a token file from `gptedu prepare` (default: the-verdict)")
    data.add_argument("--train-ratio", type=float, default=0.90, help="share of characters used for training (default: 0.90)")
    data.add_argument("--batch-size", type=int, default=2, help="sequences per batch (default: 2)")
    model = parser.add_argument_group("model (defaults: GPT_CONFIG_124M)")
    model.add_argument("--context-length", type=int, default=256, help="tokens per training sequence (default: 256)")
    model.add_argument("--emb-dim", type=int, default=768, help="width of the token vectors (default: 768)")
    model.add_argument("--n-heads", type=int, default=12, help="attention heads per layer; must divide --emb-dim (default: 12)")
    model.add_argument("--n-layers", type=int, default=12, help="transformer blocks (default: 12)")
    model.add_argument("--drop-rate", type=float, default=0.1, help="dropout rate while training (default: 0.1)")
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, default=10, help="passes over the training text (default: 10)")
    training.add_argument("--lr", type=float, default=0.0004, help="(peak) learning rate of AdamW (default: 0.0004)")
    training.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (default: 0.1)")
    training.add_argument("--eval-freq", type=int, default=5, help="evaluate every N steps (default: 5)")
    training.add_argument("--eval-iter", type=int, default=5, help="batches per evaluation (default: 5)")
    training.add_argument("--seed", type=int, default=123, help="random seed (default: 123, as the seed)")
    training.add_argument("--start-context", default="Every effort moves you", help="prompt of the samples printed after each epoch (default: Every effort moves you)")
    training.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    speed = parser.add_argument_group("speed (gptedu/fast_path.py)")
    speed.add_argument("--fast", action="store_true",
                       help="fast path: fused kernels, fused AdamW and, where the hardware computes it natively, bf16 "
                       "autocast (or fp16 with loss scaling on a T4 or V100); about 2x faster on a CPU with AVX512_BF16, "
                       "with losses close to, not equal to, the book's; it prints the precision chosen and why")
    speed.add_argument("--compile", action="store_true", help="with --fast: also torch.compile the transformer blocks")
    speed.add_argument("--quick-dropout", action="store_true",
                       help="with --fast, on a CPU: dropout masks from 16 random bits per element, faster than PyTorch's "
                       "(1.08-1.23x a bf16 step of the 124M model in three runs on a 2-core Xeon); other random numbers, so other losses")
    schedule = parser.add_argument_group("learning-rate schedule")
    schedule.add_argument(
        "--schedule", choices=["simple", "warmup-cosine"], default="simple",
        help="simple: the seed's constant rate (train_model_simple); warmup-cosine: linear warmup, "
        "cosine decay and gradient clipping (train_model) (default: simple)",
    )
    schedule.add_argument("--warmup-steps", type=int, default=None, help="warmup steps (warmup-cosine; default: 20%% of all steps)")
    schedule.add_argument("--initial-lr", type=float, default=None, help="learning rate at step 0 of the warmup (warmup-cosine; default: 3e-5)")
    schedule.add_argument("--min-lr", type=float, default=None, help="learning rate at the end of the cosine decay (warmup-cosine; default: 1e-6)")
    schedule.add_argument("--accumulation-steps", type=int, default=None, metavar="K",
                          help="warmup-cosine: add up the gradients of K batches per optimizer step (default: 1)")
    schedule.add_argument("--max-norm", type=float, default=None, help="gradient-clipping norm (warmup-cosine; default: 1.0)")
    output = parser.add_argument_group("output")
    output.add_argument("--out-dir", default="gptedu-run", help="folder for model.pth, config.json, history.json, training.png (default: gptedu-run)")
    output.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    checkpoints = parser.add_argument_group("checkpoints (notebook 06)")
    checkpoints.add_argument("--checkpoint", action="store_true",
                             help="save checkpoint.safetensors (model, AdamW, step, random states) at the end of training")
    checkpoints.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                             help="save checkpoint.safetensors every STEPS steps as well (implies --checkpoint)")
    checkpoints.add_argument("--init-from", default=None, metavar="WEIGHTS",
                             help="start a new run from saved weights instead of random ones: a model.pth of an earlier "
                             "gptedu train, or a file save_model wrote; the model flags must match its shapes")
    checkpoints.add_argument("--resume", default=None, metavar="CHECKPOINT",
                             help="continue the run saved in CHECKPOINT exactly where it stopped; --epochs counts all epochs, "
                             "so one more than the saved run trains one more epoch")
    output.add_argument("--force", action="store_true",
                        help="write into --out-dir even where it holds model.pth, config.json, ... that gptedu train did not write")


class _Parser(argparse.ArgumentParser):
    """argparse's parser with its errors on one line (argparse prints the whole usage first), naming the
    command's own ``--help`` and, for a mistyped flag, the closest one (``--epocs``: did you mean ``--epochs``?)."""

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 (argparse's signature)
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        return dict(actions[0].choices) if actions else {}

    def error(self, message: str) -> NoReturn:
        commands = self._commands()
        command = next((arg for arg in getattr(self, "_argv", []) if arg in commands), None)
        parser = commands.get(command, self)
        hint = ""
        unknown = [word.split("=")[0] for word in message.split() if word.startswith("--")]
        if message.startswith("unrecognized arguments") and unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(parser._option_string_actions), n=1, cutoff=0.6)  # noqa: SLF001
            hint = f" Did you mean {close[0]}?" if close else ""
        see = parser.prog if command else self.prog
        self.exit(2, f"{self.prog}: error: {message}.{hint} See `{see} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gptedu`` command."""
    parser = _Parser(prog="gptedu", description="Pretrain a GPT from scratch, as in the gptedu notebooks.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="pretrain a GPT on a text (defaults: the seed's run)")  # helps name defaults
    _add_train_arguments(train)
    add_download_command(commands)  # gptedu download: GPT-2's weights ahead of time (gptedu/prefetch.py)
    add_prepare_command(commands)  # gptedu prepare: a large corpus into a token file (gptedu/corpus.py)
    add_grade_command(commands)  # gptedu grade: run students' notebooks, their checks into a CSV (gptedu/exercises/grading.py)
    add_doctor_command(commands)  # gptedu doctor: what this machine has for the notebooks (gptedu/doctor.py)
    for command in commands.choices.values():  # `gptedu train ... --debug` works as well as `gptedu --debug train ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error")
    return parser


#: What ``gptedu train`` writes into ``--out-dir``.
RUN_FILES = ("model.pth", "config.json", "history.json", "training.png", "checkpoint.safetensors", "model_interrupted.pth")


def _is_run_folder(out_dir: Path) -> bool:
    """True if ``out_dir`` holds the config.json, history.json or checkpoint of an earlier ``gptedu train``."""
    for name, keys in (("config.json", {"emb_dim", "n_heads", "n_layers", "context_length"}), ("history.json", {"train_losses"})):
        try:
            content = json.loads((out_dir / name).read_text())
            if isinstance(content, dict) and keys <= set(content):
                return True
        except (OSError, ValueError):
            pass
    return inspect_file(out_dir / "checkpoint.safetensors").gptedu == "checkpoint"


def check_train_args(args: argparse.Namespace) -> None:
    """Check every flag of ``gptedu train`` before anything is loaded; raise a gptedu error naming the flag.

    Each message names the flag as typed (``--epochs``, not ``num_epochs``), the value seen
    and what to pass; a setting that would silently do something else (``--checkpoint-every 0``)
    is refused too. Also refuses an ``--out-dir`` whose files gptedu did not write (unless
    ``--force``), a ``--corpus`` that is not there and a ``--resume`` file that is not a
    gptedu checkpoint, saying what that file is.
    """
    from .config import _nearest_divisor
    from .data import CORPORA

    for flag in ("--batch-size", "--context-length", "--emb-dim", "--n-heads", "--n-layers", "--epochs", "--eval-freq", "--eval-iter"):
        check_int(flag, getattr(args, flag[2:].replace("-", "_")), 1)
    if args.emb_dim % args.n_heads:
        raise ConfigError(f"--emb-dim {args.emb_dim} must be divisible by --n-heads {args.n_heads}, so that every attention "
                          f"head gets the same number of dimensions; for example --n-heads {_nearest_divisor(args.emb_dim, args.n_heads)}.")
    check_interval("--train-ratio", args.train_ratio, 0, 1, low_open=True, high_open=True, hint="The seed uses 0.90.")
    check_interval("--drop-rate", args.drop_rate, 0, 1, high_open=True, hint="The seed uses 0.1.")
    check_float("--lr", args.lr, positive=True, hint="The seed uses 0.0004.")
    check_float("--weight-decay", args.weight_decay, minimum=0, hint="The seed uses 0.1; 0 turns it off.")
    check_int_between("--seed", args.seed, 0, 2**64 - 1, hint="The seed uses 123.")
    check_text("--start-context", args.start_context, hint="It is the prompt of the sample printed after each epoch.")
    if args.device is not None:
        from .training import get_device

        check_device_name("--device", args.device, hint="Leave it out to use the best device available.")
        try:
            get_device(args.device)  # only asks torch whether the machine has it
        except ConfigError as error:
            raise ConfigError(f"--device {args.device}: {error}") from error
    schedule_flags = {"--warmup-steps": args.warmup_steps, "--initial-lr": args.initial_lr,
                      "--min-lr": args.min_lr, "--max-norm": args.max_norm, "--accumulation-steps": args.accumulation_steps}
    # the values first: `--accumulation-steps 0` is wrong whatever the schedule
    if args.warmup_steps is not None:
        check_int("--warmup-steps", args.warmup_steps, 0)
    if args.initial_lr is not None:
        check_float("--initial-lr", args.initial_lr, minimum=0, hint="The default is 3e-5.")
    if args.min_lr is not None:
        check_float("--min-lr", args.min_lr, minimum=0, hint="The default is 1e-6.")
    if args.max_norm is not None:
        check_float("--max-norm", args.max_norm, positive=True, hint="The default is 1.0.")
    if args.accumulation_steps is not None:
        check_int("--accumulation-steps", args.accumulation_steps, 1, "1 is one batch per optimizer step.")
    given = [flag for flag, value in schedule_flags.items() if value is not None]
    if args.schedule == "simple" and given:
        raise ConfigError(f"{', '.join(given)} only work with --schedule warmup-cosine; the seed's simple loop has a "
                          "constant learning rate, no clipping and one batch per step. Add --schedule warmup-cosine or drop them.")
    if args.checkpoint_every is not None:
        check_int("--checkpoint-every", args.checkpoint_every, 1, "Use --checkpoint alone to save only at the end.")
    if args.compile and not args.fast:
        raise ConfigError("--compile is part of the fast path: add --fast (or drop --compile).")
    if args.quick_dropout and not args.fast:
        raise ConfigError("--quick-dropout is part of the fast path: add --fast (or drop --quick-dropout).")

    corpus = check_path("--corpus", args.corpus)
    if args.corpus not in CORPORA:
        if corpus.is_dir():
            raise FileKindError(f"--corpus {args.corpus} is a folder. Pass one text file, or tokenize the folder's .txt files "
                                f"into a token file first: gptedu prepare {args.corpus} corpus.bin, then --corpus corpus.bin.")
        if not corpus.is_file():
            raise DataNotFoundError(f"--corpus {args.corpus}: no such file, and it is not a known corpus name "
                                    f"({', '.join(CORPORA)}). Check the path, or use one of those names.")
    if args.init_from is not None:
        from .checkpoints import weights_file_kind

        if args.resume is not None:
            raise ConfigError("--init-from starts a new run from saved weights and --resume continues a saved run; "
                              "pass one of the two.")
        try:
            weights_file_kind(check_path("--init-from", args.init_from))
        except GPTEduError as error:
            raise type(error)(f"--init-from {args.init_from}: {error}") from error
    if args.resume is not None:
        resume = inspect_file(check_path("--resume", args.resume))
        if resume.kind == "missing":
            raise DataNotFoundError(f"--resume {args.resume}: no such file. Pass the checkpoint.safetensors that "
                                    "`gptedu train --checkpoint` wrote into its --out-dir.")
        if resume.gptedu != "checkpoint":
            raise FileKindError(f"--resume needs a training checkpoint that `gptedu train --checkpoint` wrote; {args.resume} "
                                f"is {resume.description}.")
    out_dir = check_path("--out-dir", args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {args.out_dir} is a file, not a folder. Pass a folder name (it is created if needed).")
    outputs = [out_dir / name for name in RUN_FILES]
    if args.corpus not in CORPORA and any(path.exists() and path.samefile(corpus) for path in outputs):
        raise OverwriteRefusedError(f"--corpus {args.corpus} is one of the files gptedu train writes into --out-dir "
                                    f"{args.out_dir}: it would be overwritten. Move it, or choose another --out-dir.")
    existing = [path.name for path in outputs if path.exists()]
    if existing and not args.force and not _is_run_folder(out_dir):
        raise OverwriteRefusedError(
            f"--out-dir {args.out_dir} already holds {', '.join(existing)}, which gptedu train did not write (no config.json "
            "or history.json of a gptedu run beside them); training would overwrite them. Choose another --out-dir, "
            "or add --force to overwrite them.")


def _initial_weights(model, init_from: str | None):
    """``model`` itself (random weights, the seed's run), or with the weights of ``--init-from`` copied in."""
    if init_from is None:
        return model
    from .checkpoints import check_state_dict, load_model

    state = load_model(init_from).state_dict()
    try:
        check_state_dict(model, state, source=Path(init_from).name)
    except ConfigError as error:
        raise ConfigError(f"--init-from {init_from}: {error} Pass the --context-length, --emb-dim, --n-heads and "
                          "--n-layers it was trained with.") from None
    model.load_state_dict(state)
    return model


def run_training(args: argparse.Namespace) -> dict:
    """Run ``gptedu train`` with parsed ``args``; print the seed's lines and return a summary dict.

    Launched by ``torchrun --nproc_per_node=N``, the N processes train one model together, each
    on its share of every batch (gptedu/distributed.py); only rank 0 prints and writes files.
    """
    from .distributed import cleanup_distributed, init_distributed, print_on_main_only
    from .training import get_device

    check_train_args(args)  # before any model, text or device is touched
    info = init_distributed(get_device(args.device))  # without torchrun: one process, nothing to set up
    with print_on_main_only(info):
        summary = _run_training(args, info)
    cleanup_distributed()  # after an error it is skipped: torchrun stops the other processes
    return summary


def _run_training(args: argparse.Namespace, info: DistributedInfo) -> dict:
    import torch

    from .checkpoints import checkpoint_progress
    from .config import GPT_CONFIG_124M
    from .corpus import count_window_tokens, encode_text, is_token_file, open_token_file, token_file_loaders
    from .data import count_tokens, load_text, train_val_loaders
    from .distributed import distributed_loader, unwrap_model, wrap_model
    from .fast_path import FastPath, apply_fast_path, fast_path_for, make_optimizer
    from .loss import calc_loss_loader
    from .model import GPTModel
    from .plots import plot_training_summary
    from .tokenizer import get_tokenizer
    from .training import get_device, train_model, train_model_simple

    cfg = {**GPT_CONFIG_124M, "context_length": args.context_length, "emb_dim": args.emb_dim,
           "n_heads": args.n_heads, "n_layers": args.n_layers, "drop_rate": args.drop_rate}
    out_dir = Path(args.out_dir)
    tokenizer = get_tokenizer()
    token_file = is_token_file(args.corpus)  # written by `gptedu prepare`: read from disk, never whole into memory
    if token_file:
        print(f"Token file: {args.corpus}, {len(open_token_file(args.corpus)):,} tokens")
    else:
        text = load_text(args.corpus)
        print("Characters:", len(text))
        print("Tokens:", len(encode_text(text)))  # <|endoftext|> in the text: token 50256, as the loaders count it

    # The seed's order of seeding: before the first model, the loaders, the baseline and the trained model.
    torch.manual_seed(args.seed)
    device = get_device(args.device)
    fast_path = fast_path_for(device, compile=args.compile, quick_dropout=args.quick_dropout) if args.fast else FastPath()
    model = apply_fast_path(_initial_weights(GPTModel(cfg), args.init_from), replace(fast_path, compile=False))  # only evaluated
    model.eval()
    torch.manual_seed(args.seed)
    if token_file:
        train_loader, val_loader = token_file_loaders(args.corpus, cfg["context_length"], args.batch_size, args.train_ratio)
        tokens_in = partial(count_window_tokens, context_length=cfg["context_length"])  # without reading the corpus
    else:
        train_loader, val_loader = train_val_loaders(text, cfg["context_length"], args.batch_size, args.train_ratio)
        tokens_in = count_tokens
    print("Training tokens:", tokens_in(train_loader))
    print("Validation tokens:", tokens_in(val_loader))
    print(f"Using {device} device.")
    model.to(device)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        baseline_batches = args.eval_iter if token_file else None  # a large corpus: a sample of batches, not all
        print("Training loss:", calc_loss_loader(train_loader, model, device, baseline_batches))
        print("Validation loss:", calc_loss_loader(val_loader, model, device, baseline_batches))
    train_loader = distributed_loader(train_loader, info, args.seed)  # torchrun: this process's share of the windows
    if info.enabled:
        print(f"Processes: {info.world_size} ({info.backend}), each training on {tokens_in(train_loader)} tokens per "
              f"epoch; effective batch size {info.world_size} x {args.batch_size}"
              + (f" x {args.accumulation_steps} accumulated." if (args.accumulation_steps or 1) > 1 else "."))

    torch.manual_seed(args.seed)
    model = apply_fast_path(_initial_weights(GPTModel(cfg), args.init_from), fast_path).to(device)
    optimizer = make_optimizer(model, lr=args.lr, weight_decay=args.weight_decay, fast_path=fast_path)
    if args.fast:
        print("Fast path:", fast_path.describe())
    model = wrap_model(model, info)  # torchrun: DistributedDataParallel averages the gradients of all processes
    loop_args = dict(num_epochs=args.epochs, eval_freq=args.eval_freq, eval_iter=args.eval_iter,
                     start_context=args.start_context, tokenizer=tokenizer, progress=not args.no_progress)
    wants_checkpoint = args.checkpoint or args.checkpoint_every is not None or args.resume is not None
    checkpoint = out_dir / "checkpoint.safetensors" if wants_checkpoint else None
    loop_args.update(checkpoint=checkpoint, resume=args.resume,  # at the end only, unless --checkpoint-every
                     checkpoint_every=args.epochs * len(train_loader) if args.checkpoint_every is None else args.checkpoint_every)
    tokens_before = checkpoint_progress(args.resume).get("tokens_seen", 0) if args.resume else 0
    start = time.perf_counter()
    try:
        if args.schedule == "simple":
            history = train_model_simple(model, train_loader, val_loader, optimizer, device, **loop_args)
        else:
            history = train_model(model, train_loader, val_loader, optimizer, device, warmup_steps=args.warmup_steps,
                                  initial_lr=3e-5 if args.initial_lr is None else args.initial_lr,
                                  min_lr=1e-6 if args.min_lr is None else args.min_lr,
                                  max_norm=1.0 if args.max_norm is None else args.max_norm,
                                  accumulation_steps=1 if args.accumulation_steps is None else args.accumulation_steps,
                                  **loop_args)
    except KeyboardInterrupt:
        if info.is_main:  # under torchrun every process is interrupted; rank 0 saves
            state = unwrap_model(model).state_dict()
            atomic_write(out_dir / "model_interrupted.pth", partial(torch.save, state))
            _write_json(out_dir / "config.json", cfg)  # load_model(model_interrupted.pth) finds the config beside it
        resume = f" To continue: --resume {checkpoint}" if checkpoint is not None and checkpoint.is_file() else ""
        print(f"\nInterrupted: the weights so far are saved in {out_dir / 'model_interrupted.pth'}.{resume}")
        raise
    seconds = time.perf_counter() - start
    tokens_trained = (args.epochs * tokens_in(train_loader) - tokens_before) * info.world_size  # by all processes
    if checkpoint is not None:
        print(f"Checkpoint: {checkpoint} (continue training with --resume {checkpoint} --epochs {args.epochs + 1})")
    print(f"Training completed in {seconds / 60:.2f} minutes ({tokens_trained / seconds:.1f} tokens/s including evaluation).")

    summary = {"train_losses": list(history[0]), "val_losses": list(history[1]), "tokens_seen": list(history[2]),
               "seconds": seconds, "tokens_per_second": tokens_trained / seconds}
    if info.is_main:  # under torchrun all processes hold the same weights: rank 0 writes the files
        state = unwrap_model(model).state_dict()  # keys without DDP's "module."
        atomic_write(out_dir / "model.pth", partial(torch.save, state))  # each file whole or not at all
        _write_json(out_dir / "config.json", cfg)
        _write_json(out_dir / "history.json", summary)
        figure = plot_training_summary(args.epochs, history)
        atomic_write(out_dir / "training.png", lambda temporary: figure.savefig(temporary, dpi=120, format="png"))
        print(f"Wrote {out_dir / 'model.pth'}, config.json, history.json and training.png.")
    return summary


def _write_json(path: Path, content: dict) -> None:
    atomic_write(path, lambda temporary: temporary.write_text(json.dumps(content, indent=2) + "\n"))


def _one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gptedu`` command; returns the process exit code.

    A gptedu error (a flag that cannot work, a missing or wrong file, ...) prints one line,
    ``gptedu: error: ...``, on stderr and returns 2; an error of the file system (a full disk,
    a folder without write permission) one line and 1. ``--debug`` lets them raise, with
    their traceback. Wrong flags themselves stop in argparse, also on one line, exit code 2.
    """
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        {"download": run_download, "prepare": run_prepare, "grade": run_grade, "doctor": run_doctor,
         "train": run_training}[args.command](args)
    except GPTEduError as error:
        if debug:
            raise
        print(f"gptedu: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # the machine's problem, not gptedu's: still one line, the traceback with --debug
        if debug:
            raise
        print(f"gptedu: error: {_one_line(error)} (add --debug for the traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
