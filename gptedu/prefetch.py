"""``gptedu download``: fetch GPT-2's weights ahead of time, for offline use or a whole classroom (notebook 07).

``gptedu download 124M`` puts ``model.safetensors`` and ``config.json`` of
``openai-community/gpt2`` in the Hugging Face cache (``HF_HUB_CACHE``), verified;
``--source openai`` fetches OpenAI's seven checkpoint files into gptedu's cache instead, and
``--source both`` does both. A teacher runs it once with ``HF_HUB_CACHE`` (and
``GPTEDU_CACHE_DIR``) pointing at a shared folder; students set the same variables, add
``HF_HUB_OFFLINE=1``, and ``load_gpt2`` finds the files without downloading anything.
"""

from __future__ import annotations

import argparse


def add_download_command(commands) -> None:
    """Add the ``download`` subcommand to the ``gptedu`` parser's subcommands."""
    download = commands.add_parser("download", help="download GPT-2's pretrained weights ahead of time",
                                   description=__doc__.split("\n\n")[1])
    download.add_argument("sizes", nargs="+", metavar="SIZE", help="124M, 355M, 774M, 1558M (or gpt2, gpt2-medium, ...)")
    download.add_argument("--source", choices=["huggingface", "openai", "both"], default="huggingface",
                          help="which published format to fetch (default: huggingface)")
    download.add_argument("--models-dir", default=None, help="folder for OpenAI's checkpoints (default: <gptedu cache>/gpt2)")


def run_download(args: argparse.Namespace) -> None:
    """Fetch and verify every requested size; print where each one is."""
    from pathlib import Path

    from .errors import ConfigError
    from .hub import hf_file, hf_weights_path
    from .openai_download import download_openai_gpt2
    from .pretrained import HF_REPOS, gpt2_size_name

    names = [gpt2_size_name(size) for size in args.sizes]  # every name checked before the first download starts
    if args.models_dir is not None and Path(args.models_dir).exists() and not Path(args.models_dir).is_dir():
        raise ConfigError(f"--models-dir {args.models_dir} is a file, not a folder. Pass a folder (it is created if needed).")
    for size, name in zip(args.sizes, names, strict=True):
        if args.source in ("huggingface", "both"):
            path = hf_weights_path(size)
            hf_file(HF_REPOS[name], "config.json", size)
            print(f"{name}: {path} (Hugging Face cache, verified)")
        if args.source in ("openai", "both"):
            folder = download_openai_gpt2(size, models_dir=args.models_dir)
            print(f"{name}: {folder} (OpenAI checkpoint)")
