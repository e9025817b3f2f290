"""Loading GPT-2 into GPTModel (gptedu.pretrained, gptedu.hub), checked against Hugging Face transformers.

The reference is ``transformers.GPT2LMHeadModel``: a randomly initialised one is saved with
``save_pretrained`` (a small config, and once the real 124M shapes), loaded with ``load_gpt2``,
and both must give the same logits in eval mode. No download happens: the hub path runs on a
stand-in written into a temporary hub cache in the published layout (tests/fixtures/make_hub_standin.py).
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gptedu import GPT2_PRESETS, GPTModel, count_parameters, gpt2_config
from gptedu.errors import ChecksumError, ConfigError, DataNotFoundError
from gptedu.pretrained import (
    GPT2_PARAMETER_COUNTS,
    STANDIN_COMMIT,
    build_empty_gpt,
    copy_gpt2_tensor,
    export_to_hf,
    gpt2_size_name,
    gpt2_weight_map,
    is_test_standin,
    load_gpt2,
    load_weights_into_gpt,
)

transformers = pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from make_hub_standin import COMMIT, HF_CONFIG, make_hub_standin  # noqa: E402

SMALL_HF = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": 100}


def random_hf_model(seed=0, **config):
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(**config)).eval()


def max_logit_diff(hf_model, model, token_ids):
    with torch.no_grad():
        return (hf_model(token_ids).logits - model(token_ids)).abs().max().item()


@pytest.fixture(scope="module")
def small_hf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-small")
    random_hf_model(**SMALL_HF).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hf_124m_folder(tmp_path_factory):
    """A random 124M-shaped GPT2LMHeadModel saved with save_pretrained (about 500 MB in a temp folder)."""
    folder = tmp_path_factory.mktemp("hf-124m")
    random_hf_model(seed=1, **{k: v for k, v in HF_CONFIG.items() if k != "architectures"}).save_pretrained(folder)
    return folder


@pytest.fixture
def hub_cache(tmp_path_factory, monkeypatch):
    """A hub cache holding the 124M stand-in, with huggingface_hub in offline mode."""
    cache = tmp_path_factory.getbasetemp() / "hub-cache"
    make_hub_standin(cache)
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache


def test_logits_match_transformers_for_a_small_config(small_hf_folder):
    model = load_gpt2(None, source=small_hf_folder)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(small_hf_folder).eval()
    token_ids = torch.randint(0, 100, (2, 40), generator=torch.Generator().manual_seed(0))
    assert max_logit_diff(hf_model, model, token_ids) < 1e-4


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch.save zip", "torch.save's older pickle format"])
def test_a_pytorch_model_bin_in_either_torch_save_format_loads_the_same_weights(small_hf_folder, tmp_path, zip_format):
    """Older Hugging Face folders hold pytorch_model.bin instead of model.safetensors, some in the pre-1.6 format."""
    from safetensors.torch import load_file

    folder = tmp_path / "bin-folder"
    folder.mkdir()
    (folder / "config.json").write_text((small_hf_folder / "config.json").read_text())
    state = load_file(str(small_hf_folder / "model.safetensors"))
    torch.save(state, folder / "pytorch_model.bin", _use_new_zipfile_serialization=zip_format)
    from_bin, from_safetensors = load_gpt2(None, source=folder), load_gpt2(None, source=small_hf_folder)
    token_ids = torch.randint(0, 100, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(from_bin(token_ids), from_safetensors(token_ids))


def test_logits_match_transformers_for_the_124m_shapes(hf_124m_folder):
    model = load_gpt2("124M", source=hf_124m_folder)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(hf_124m_folder).eval()
    token_ids = torch.tensor([[6109, 3626, 6100, 345, 1, 50256]])  # "Every effort moves you" and more
    assert max_logit_diff(hf_model, model, token_ids) < 1e-4
    assert count_parameters(model) == 124_439_808  # the head is tied: counted once


def test_loaded_model_has_gpt2_settings_and_a_tied_head(small_hf_folder):
    model = load_gpt2(None, source=small_hf_folder)
    assert model.out_head.weight is model.tok_emb.weight
    assert model.cfg["qkv_bias"] and model.cfg["drop_rate"] == 0.0 and not model.training
    assert torch.equal(model.trf_blocks[0].att.mask, torch.triu(torch.ones(64, 64), diagonal=1))


def test_hub_path_loads_the_published_layout_offline(hub_cache):
    model = load_gpt2("gpt2-small (124M)")
    snapshot = next((hub_cache / "models--openai-community--gpt2" / "snapshots").iterdir())
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(snapshot).eval()
    assert max_logit_diff(hf_model, model, torch.tensor([[6109, 3626, 6100, 345]])) < 1e-4
    assert model.cfg["context_length"] == 1024


def test_offline_and_not_cached_says_what_to_download_and_where(hub_cache):
    with pytest.raises(DataNotFoundError) as error:
        load_gpt2("gpt2-medium")  # only the 124M stand-in is cached
    message = str(error.value)
    assert "openai-community/gpt2-medium" in message and "gptedu download 355M" in message
    assert "HF_HUB_CACHE" in message and "source=" in message


def test_a_corrupt_cached_file_is_deleted_not_loaded(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hub"
    snapshot = make_hub_standin(cache, config={**HF_CONFIG, "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 16})
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("GPTEDU_CACHE_DIR", str(tmp_path / "gptedu"))
    blob = (snapshot / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte in the last tensor
    blob.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="corrupt"):
        load_gpt2("124M")
    assert not blob.exists()


def test_book_params_load_like_the_book(small_hf_folder):
    """load_weights_into_gpt takes the book's nested params (from OpenAI's checkpoint layout)."""
    sd = transformers.GPT2LMHeadModel.from_pretrained(small_hf_folder).state_dict()
    w = {k.removeprefix("transformer."): v.numpy() for k, v in sd.items()}
    blocks = [{"attn": {"c_attn": {"w": w[f"h.{i}.attn.c_attn.weight"], "b": w[f"h.{i}.attn.c_attn.bias"]},
                        "c_proj": {"w": w[f"h.{i}.attn.c_proj.weight"], "b": w[f"h.{i}.attn.c_proj.bias"]}},
               "mlp": {"c_fc": {"w": w[f"h.{i}.mlp.c_fc.weight"], "b": w[f"h.{i}.mlp.c_fc.bias"]},
                       "c_proj": {"w": w[f"h.{i}.mlp.c_proj.weight"], "b": w[f"h.{i}.mlp.c_proj.bias"]}},
               "ln_1": {"g": w[f"h.{i}.ln_1.weight"], "b": w[f"h.{i}.ln_1.bias"]},
               "ln_2": {"g": w[f"h.{i}.ln_2.weight"], "b": w[f"h.{i}.ln_2.bias"]}} for i in range(2)]
    params = {"wte": w["wte.weight"], "wpe": w["wpe.weight"], "blocks": blocks, "g": w["ln_f.weight"], "b": w["ln_f.bias"]}
    cfg = {"vocab_size": 100, "context_length": 64, "emb_dim": 32, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
    model = load_weights_into_gpt(GPTModel(cfg), params).eval()
    reference = load_gpt2(None, source=small_hf_folder)
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(("changes", "message"), [
    ({"emb_dim": 16}, r"wte\.weight has shape \(100, 32\).*tok_emb\.weight"),  # the shape that does not fit, named
    ({"n_layers": 1}, "only 1 transformer blocks"),  # the checkpoint has more blocks than the model
    ({"qkv_bias": False}, r"c_attn\.bias but the model has no trf_blocks\.0\.att\.W_query\.bias: build it with qkv_bias=True"),
], ids=["narrower model", "fewer layers", "no qkv bias"])
def test_a_model_that_does_not_fit_the_checkpoint_is_told_why(small_hf_folder, changes, message):
    cfg = {"vocab_size": 100, "context_length": 64, "emb_dim": 32, "n_heads": 4, "n_layers": 2, "drop_rate": 0.0,
           "qkv_bias": True, **changes}  # SMALL_HF's shapes, but for the one setting changed
    sd = transformers.GPT2LMHeadModel.from_pretrained(small_hf_folder).state_dict()
    with pytest.raises(ConfigError, match=message):
        load_weights_into_gpt(GPTModel(cfg), sd)


@pytest.mark.parametrize(("name", "n_params"), list(GPT2_PARAMETER_COUNTS.items()))
def test_every_size_has_its_published_parameter_count(name, n_params):
    with torch.device("meta"):  # shapes only: no memory for 1.5 billion weights
        model = GPTModel(GPT2_PRESETS[name])
    model.out_head.weight = model.tok_emb.weight
    assert count_parameters(model) == n_params


@pytest.mark.parametrize(("alias", "name"), [("124M", "gpt2-small (124M)"), ("gpt2-medium", "gpt2-medium (355M)"),
                                             ("openai-community/gpt2-large", "gpt2-large (774M)"), ("1558M", "gpt2-xl (1558M)")])
def test_sizes_are_accepted_by_every_name(alias, name):
    assert gpt2_size_name(alias) == name


@pytest.mark.parametrize("size", ["355M", "774M", "1558M"])
def test_mapping_of_every_size_fills_every_weight(size):
    """The mapping on a stand-in with each size's layer count and heads, at width 8 per head."""
    cfg = {**gpt2_config(size), "vocab_size": 10, "context_length": 4}
    cfg["emb_dim"] = 8 * cfg["n_heads"]
    hf = random_hf_model(n_embd=cfg["emb_dim"], n_layer=cfg["n_layers"], n_head=cfg["n_heads"], n_positions=4, vocab_size=10)
    model = load_weights_into_gpt(build_empty_gpt(cfg), hf.state_dict())
    assert max_logit_diff(hf, model, torch.tensor([[1, 2, 3, 4]])) < 1e-4


def test_book_layout_state_dict_loads_from_a_pth_file(small_hf_folder, tmp_path):
    reference = load_gpt2(None, source=small_hf_folder)
    torch.save(reference.state_dict(), tmp_path / "model.pth")
    (tmp_path / "config.json").write_text(json.dumps(reference.cfg))  # as `gptedu train` writes it
    model = load_gpt2(None, source=tmp_path / "model.pth")
    assert model.cfg["emb_dim"] == 32 and model.cfg["n_layers"] == 2
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(model(ids), reference(ids))


def test_export_to_hf_round_trips_through_transformers(small_hf_folder, tmp_path):
    model = load_gpt2(None, source=small_hf_folder)
    export_to_hf(model, tmp_path / "exported")
    assert json.loads((tmp_path / "exported" / "config.json").read_text())["model_type"] == "gpt2"
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "exported").eval()
    token_ids = torch.randint(0, 100, (1, 30), generator=torch.Generator().manual_seed(1))
    assert max_logit_diff(hf_model, model, token_ids) < 1e-4


def test_export_writes_over_its_own_export_but_not_over_a_download(small_hf_folder, tmp_path):
    from gptedu.errors import OverwriteRefusedError

    model = load_gpt2(None, source=small_hf_folder)
    export_to_hf(model, tmp_path / "exported")
    export_to_hf(model, tmp_path / "exported")  # running the cell again replaces what it wrote
    download = (small_hf_folder / "model.safetensors").read_bytes()
    with pytest.raises(OverwriteRefusedError, match="did not write it"):
        export_to_hf(model, small_hf_folder)  # transformers' save_pretrained wrote this one
    assert (small_hf_folder / "model.safetensors").read_bytes() == download
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes(download)
    export_to_hf(model, copy, force=True)
    assert load_gpt2(None, source=copy)(torch.tensor([[1, 2]])).shape == (1, 2, model.cfg["vocab_size"])


def test_export_refuses_a_model_without_qkv_bias(tmp_path):
    cfg = {"vocab_size": 10, "context_length": 4, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0, "qkv_bias": False}
    with pytest.raises(ConfigError, match="qkv_bias=True"):
        export_to_hf(GPTModel(cfg), tmp_path)


def test_loading_124m_peaks_below_one_and_a_half_model_sizes(hf_124m_folder):
    """Peak resident memory while loading, minus before, over the model's own bytes (weights + buffers)."""
    script = textwrap.dedent(f"""
        import re, torch
        import safetensors, huggingface_hub, gptedu.pretrained as pretrained
        def status(key):
            return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
        before = status("VmRSS")
        model = pretrained.load_gpt2("124M", source={str(hf_124m_folder)!r})
        size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
        print((status("VmHWM") - before) / size)
    """)
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc to read the peak resident memory")
    ratio = float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    print(f"peak memory while loading: {ratio:.2f} x the model's size")
    assert ratio <= 1.5


def test_download_command_reports_a_cached_size(hub_cache, capsys, tmp_path, monkeypatch):
    from gptedu.cli import main

    monkeypatch.setenv("GPTEDU_CACHE_DIR", str(tmp_path))
    assert main(["download", "124M"]) == 0
    assert "gpt2-small (124M)" in capsys.readouterr().out
    assert main(["download", "gpt2-xl"]) == 2  # not cached, offline: an actionable error, exit code 2
    assert "gptedu download 1558M" in capsys.readouterr().err


def test_weight_map_follows_the_books_order_and_fills_every_parameter_once():
    mapping = gpt2_weight_map(2)
    names = list(mapping)
    # the book's load_weights_into_gpt: wpe, wte, then per block c_attn, c_proj, c_fc, mlp.c_proj, ln_1, ln_2; ln_f last
    assert names[:2] == ["wpe.weight", "wte.weight"] and names[-2:] == ["ln_f.weight", "ln_f.bias"]
    assert [n.removeprefix("h.1.") for n in names[14:26]] == [
        "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_fc.weight",
        "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias", "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias"]
    assert mapping["h.0.attn.c_attn.weight"] == (
        ("trf_blocks.0.att.W_query.weight", "trf_blocks.0.att.W_key.weight", "trf_blocks.0.att.W_value.weight"), True)
    assert sorted(n for n, (_, transpose) in mapping.items() if transpose and n.startswith("h.0.")) == [
        "h.0.attn.c_attn.weight", "h.0.attn.c_proj.weight", "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight"]
    filled = [target for targets, _ in mapping.values() for target in targets]
    cfg = {"vocab_size": 10, "context_length": 4, "emb_dim": 8, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
    with torch.device("meta"):
        model = GPTModel(cfg)
    assert sorted(filled) == sorted(name for name, _ in model.named_parameters() if name != "out_head.weight")


def test_copy_splits_c_attn_into_query_key_value_and_transposes():
    d = 4
    weight = torch.arange(d * 3 * d, dtype=torch.float32).reshape(d, 3 * d)  # Conv1D: (in, out), q | k | v side by side
    params = {f"trf_blocks.0.att.{p}.weight": torch.empty(d, d) for p in ("W_query", "W_key", "W_value")}
    filled = copy_gpt2_tensor(params, "h.0.attn.c_attn.weight", weight, gpt2_weight_map(1))
    assert filled == tuple(params)
    assert torch.equal(params["trf_blocks.0.att.W_query.weight"], weight[:, :d].T)
    assert torch.equal(params["trf_blocks.0.att.W_key.weight"], weight[:, d:2 * d].T)
    assert torch.equal(params["trf_blocks.0.att.W_value.weight"], weight[:, 2 * d:].T)
    with pytest.raises(ConfigError, match=r"shape \(3, 3\) but trf_blocks\.0\.att\.W_query\.weight of the model has shape \(4, 4\)"):
        copy_gpt2_tensor(params, "h.0.attn.c_attn.weight", torch.zeros(3, 9), gpt2_weight_map(1))



def test_the_test_standin_is_recognised_and_real_weights_are_not(hub_cache):
    assert STANDIN_COMMIT == COMMIT  # the fixture's made-up commit is what the package looks for
    assert is_test_standin("124M") and is_test_standin("gpt2-small (124M)")
    assert not is_test_standin("355M")  # not cached at all
    ref = hub_cache / "models--openai-community--gpt2" / "refs" / "main"
    ref.write_text("607a30d783dfa663caf39e06633721c8d4cfcd7e")  # as if the real files had been downloaded since
    try:
        assert not is_test_standin("124M")
    finally:
        ref.write_text(COMMIT)
