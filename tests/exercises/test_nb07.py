"""Notebook 07's exercises beyond the generic tests: the c_attn split agrees with gptedu's export (its
inverse), the parameter count with GPT-2's published numbers, and the file sizes of exercise 07.3 with
the stand-in written in the published layout."""

import os
from pathlib import Path

import pytest
import torch

from gptedu import GPT2_PARAMETER_COUNTS, GPT2_PRESETS
from gptedu.exercises.nb07 import _c_attn_cases, _count_reference, _gpt2_file_gb, _package_split, count_gpt_parameters


def test_the_split_is_undone_by_the_export_mapping():
    for case in _c_attn_cases():
        weight, bias = case.args
        (q, k, v), (bq, bk, bv) = _package_split(weight, bias)
        assert torch.equal(torch.cat([q.T, k.T, v.T], dim=1), weight)  # what export_to_hf writes back
        assert torch.equal(torch.cat([bq, bk, bv]), bias)


@pytest.mark.parametrize("name", list(GPT2_PRESETS))
def test_the_counts_are_gpt2s_published_ones(name):
    assert _count_reference(GPT2_PRESETS[name], True) == GPT2_PARAMETER_COUNTS[name]
    assert count_gpt_parameters(GPT2_PRESETS[name], True) == GPT2_PARAMETER_COUNTS[name]


def test_the_124m_file_size_of_exercise_07_3_is_the_published_layouts():
    cache = Path(os.environ.get("HF_HUB_CACHE", Path.home() / ".cache" / "huggingface" / "hub"))
    snapshots = cache / "models--openai-community--gpt2" / "snapshots"
    files = list(snapshots.glob("*/model.safetensors")) if snapshots.is_dir() else []
    if not files:
        pytest.skip("no GPT-2 124M (or its stand-in) in the hub cache")
    size = files[0].stat().st_size  # tensors plus a JSON header of a few kilobytes
    assert 0 <= size - _gpt2_file_gb("gpt2-small (124M)") * 1e9 < 50_000
