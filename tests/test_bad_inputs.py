"""Bad input at gptedu's public boundary: each case gets a gptedu error that names the problem.

``CASES`` is one table: a public callable of ``gptedu.__all__``, a call of it with one bad
argument, the gptedu error class expected and the words its message must contain (the
argument, the value seen, what to do). ``test_every_public_callable_has_a_case_or_an_exemption``
makes sure every public function and class is in the table or in ``EXEMPT`` with a reason, so
a new public function cannot arrive without its bad-input test. The last tests check that the
legitimate inputs next to the bad ones keep working (empty text, list IDs, -100 targets, the
edges of each range).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import gptedu
from gptedu import ArgumentTypeError, ConfigError, GPTEduError, NotEnoughDataError
from gptedu.errors import InvalidInputError

#: A model small enough to build in milliseconds, over GPT-2's full vocabulary (50,257 tokens).
TINY_CFG = {"vocab_size": 50257, "context_length": 32, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
            "qkv_bias": False}
TEXT = "Every effort moves you forward, and every step counts. " * 40  # about 440 tokens


@dataclass(frozen=True)
class Case:
    """Call public callable ``target`` as ``call(target_object, env)``; expect ``error`` with all ``words``."""

    target: str
    label: str
    call: Callable[[Any, SimpleNamespace], Any]
    error: type[GPTEduError]
    words: tuple[str, ...]


def _cfg(**changes: Any) -> dict[str, Any]:
    return {**TINY_CFG, **changes}


def _with(token_ids: torch.Tensor, value: int) -> torch.Tensor:
    """A copy of ``token_ids`` whose element ``[0, 3]`` is ``value``."""
    changed = token_ids.clone()
    changed[0, 3] = value
    return changed


CASES = [
    # --- tokenizer: text in, token IDs out ------------------------------------------------------
    Case("text_to_token_ids", "int text", lambda f, e: f(5, e.tok), ArgumentTypeError, ("text", "5", "int")),
    Case("text_to_token_ids", "None text", lambda f, e: f(None, e.tok), ArgumentTypeError, ("text", "None")),
    Case("text_to_token_ids", "bytes text", lambda f, e: f(b"Every effort", e.tok), ArgumentTypeError,
         ("bytes", "decode('utf-8')")),
    Case("text_to_token_ids", "arguments swapped", lambda f, e: f(e.tok, "Every effort"), ArgumentTypeError,
         ("text must be a str", "text_to_token_ids(text, tokenizer)")),
    Case("text_to_token_ids", "no tokenizer", lambda f, e: f("Every effort", None), ArgumentTypeError,
         ("tokenizer", "get_tokenizer()")),
    Case("token_ids_to_text", "ID past the vocabulary", lambda f, e: f(torch.tensor([[6109, 50257]]), e.tok),
         InvalidInputError, ("token ID 50257", "vocabulary of 50257", "[0, 50256]")),
    Case("token_ids_to_text", "negative ID", lambda f, e: f(torch.tensor([-1]), e.tok), InvalidInputError,
         ("token ID -1", "50257")),
    Case("token_ids_to_text", "float IDs", lambda f, e: f(torch.tensor([6109.0, 3626.0]), e.tok), InvalidInputError,
         ("integer token IDs", "float32", ".long()")),
    Case("token_ids_to_text", "ragged list of lists", lambda f, e: f([[6109, 3626], [6100]], e.tok), InvalidInputError,
         ("token_ids", "same length")),
    Case("token_ids_to_text", "list with an ID past the vocabulary", lambda f, e: f([6109, 3626, 60000], e.tok),
         InvalidInputError, ("token ID 60000", "position 2", "50257")),
    Case("token_ids_to_text", "a str", lambda f, e: f("Every effort", e.tok), ArgumentTypeError, ("token_ids", "str")),
    Case("token_ids_to_text", "a batch of two", lambda f, e: f(torch.tensor([[1, 2], [3, 4]]), e.tok),
         InvalidInputError, ("batch of 2", "for row in token_ids")),

    # --- sampling: the logits transforms --------------------------------------------------------
    Case("apply_temperature", "temperature 0", lambda f, e: f(e.logits, 0), ConfigError, ("temperature", "argmax")),
    Case("apply_temperature", "infinite temperature", lambda f, e: f(e.logits, math.inf), ConfigError,
         ("temperature", "inf", "0.001 to 1000")),
    Case("apply_temperature", "logits as a list", lambda f, e: f([1.0, 2.0], 1.0), ArgumentTypeError,
         ("logits", "tensor")),
    Case("softmax_with_temperature", "temperature 1e-45", lambda f, e: f(e.logits, 1e-45), ConfigError,
         ("1e-45", "0.001 to 1000", "NaN", "temperature=0")),
    Case("softmax_with_temperature", "NaN temperature", lambda f, e: f(e.logits, math.nan), ConfigError,
         ("temperature", "nan")),
    Case("top_k_filter", "top_k 0", lambda f, e: f(e.logits, 0), ConfigError, ("top_k", "got 0")),
    Case("top_k_filter", "top_k -1", lambda f, e: f(e.logits, -1), ConfigError, ("top_k", "got -1")),
    Case("top_k_filter", "top_k 2.5", lambda f, e: f(e.logits, 2.5), ArgumentTypeError, ("top_k", "2.5")),
    Case("top_k_filter", "integer logits", lambda f, e: f(torch.arange(5), 2), InvalidInputError,
         ("float tensor", "int64")),
    Case("top_p_filter", "top_p 1.5", lambda f, e: f(e.logits, 1.5), ConfigError, ("top_p", "(0, 1]", "1.5")),
    Case("top_p_filter", "top_p 0", lambda f, e: f(e.logits, 0.0), ConfigError, ("top_p", "(0, 1]", "0.0")),
    Case("top_p_filter", "top_p as a str", lambda f, e: f(e.logits, "0.9"), ArgumentTypeError, ("top_p", "'0.9'")),
    Case("next_token_probs", "negative temperature", lambda f, e: f(e.logits, temperature=-1.0), ConfigError,
         ("temperature", "-1.0", "0 (greedy)")),
    Case("next_token_probs", "logits as a list", lambda f, e: f([4.0, 1.0], temperature=0), ArgumentTypeError,
         ("logits", "list")),
    Case("next_token_probs", "top_p 2", lambda f, e: f(e.logits, top_p=2), ConfigError, ("top_p", "2")),
    Case("sample_next_token", "top_k 0", lambda f, e: f(e.logits[None], 1.0, top_k=0), ConfigError,
         ("top_k", "got 0", "None")),
    Case("sample_next_token", "infinite temperature", lambda f, e: f(e.logits[None], math.inf), ConfigError,
         ("temperature", "inf")),

    # --- generation -----------------------------------------------------------------------------
    Case("generate_text", "eos_id 50257 (past the vocabulary)", lambda f, e: f(e.model, e.prompt, 3, 32, eos_id=50257),
         ConfigError, ("eos_id=50257", "vocabulary of 50257", "50256", "never stop")),
    Case("sample_next_token", "NaN logits", lambda f, e: f(torch.tensor([[1.0, float("nan")]]), 1.0), InvalidInputError,
         ("NaN", "weights are broken", "last good checkpoint")),
    Case("sample_next_token", "every logit -inf", lambda f, e: f(torch.full((1, 4), -math.inf), 1.0), InvalidInputError,
         ("-inf", "no token is left")),
    Case("generate_text", "NaN weights, greedy", lambda f, e: f(e.broken, e.prompt, 3, 32), InvalidInputError,
         ("NaN", "weights are broken")),
    Case("generate_text_simple", "NaN weights", lambda f, e: f(e.broken, e.prompt, 3, 32), InvalidInputError,
         ("NaN", "weights are broken")),
    Case("generate_text", "NaN weights, sampling", lambda f, e: f(e.broken, e.prompt, 3, 32, temperature=1.0, top_k=5),
         InvalidInputError, ("NaN", "weights are broken")),
    Case("GPTModel", "a batch of zero rows", lambda f, e: e.model(e.inputs[:0]), InvalidInputError, ("no rows", "(0, 16)")),
    Case("generate_text", "a prompt of zero rows", lambda f, e: f(e.model, e.prompt[:0], 3, 32), InvalidInputError,
         ("at least one row", "(0, 4)")),
    Case("generate_text_simple", "a prompt of zero rows", lambda f, e: f(e.model, e.prompt[:0], 3, 32), InvalidInputError,
         ("at least one row", "(0, 4)")),
    Case("beam_search", "a prompt of zero rows", lambda f, e: f(e.model, e.prompt[:0], 3, 32, num_beams=2), InvalidInputError,
         ("at least one row", "(0, 4)")),
    Case("beam_search", "NaN weights", lambda f, e: f(e.broken, e.prompt, 3, 32, num_beams=2), InvalidInputError,
         ("NaN", "weights are broken")),
    Case("generate_text", "eos_id -1", lambda f, e: f(e.model, e.prompt, 3, 32, eos_id=-1), ConfigError,
         ("eos_id", "-1", "eot_token")),
    Case("generate_text", "eos_id as a str", lambda f, e: f(e.model, e.prompt, 3, 32, eos_id="50256"),
         ArgumentTypeError, ("eos_id", "'50256'")),
    Case("generate_text", "context_size above the model's", lambda f, e: f(e.model, e.prompt, 3, 1000), ConfigError,
         ("context_size=1000", "context_length 32", "model.cfg['context_length']")),
    Case("generate_text", "a str prompt", lambda f, e: f(e.model, "Every effort", 3, 32), ArgumentTypeError,
         ("idx", "str", "text_to_token_ids")),
    Case("generate_text", "empty prompt", lambda f, e: f(e.model, e.tok_ids(""), 3, 32), InvalidInputError,
         ("at least one token", "(1, 0)", "non-empty prompt")),
    Case("generate_text", "temperature as a str", lambda f, e: f(e.model, e.prompt, 3, 32, temperature="hot"),
         ArgumentTypeError, ("temperature", "'hot'")),
    Case("generate_text", "top_k -1", lambda f, e: f(e.model, e.prompt, 3, 32, top_k=-1), ConfigError,
         ("top_k", "-1")),
    Case("generate_text", "generator of the wrong type", lambda f, e: f(e.model, e.prompt, 3, 32, generator=123),
         ArgumentTypeError, ("generator", "torch.Generator", "manual_seed")),
    Case("generate_text", "use_cache 'yes'", lambda f, e: f(e.model, e.prompt, 3, 32, use_cache="yes"),
         ArgumentTypeError, ("use_cache", "True or False")),
    Case("generate_text", "beams with sampling", lambda f, e: f(e.model, e.prompt, 3, 32, num_beams=2, temperature=1.0),
         ConfigError, ("deterministic", "temperature=0")),
    Case("generate_text_simple", "context_size above the model's", lambda f, e: f(e.model, e.prompt, 3, 33),
         ConfigError, ("context_size=33", "context_length 32")),
    Case("generate_text_simple", "max_new_tokens 2.5", lambda f, e: f(e.model, e.prompt, 2.5, 32), ArgumentTypeError,
         ("max_new_tokens", "2.5")),
    Case("generate_text_simple", "a model that is not a module", lambda f, e: f("gpt2", e.prompt, 3, 32),
         ArgumentTypeError, ("model", "'gpt2'")),
    Case("beam_search", "eos_id past the vocabulary", lambda f, e: f(e.model, e.prompt, 3, 32, eos_id=50257),
         ConfigError, ("eos_id=50257", "50257 tokens")),
    Case("beam_search", "early_stopping 1", lambda f, e: f(e.model, e.prompt, 3, 32, early_stopping=1), ConfigError,
         ("early_stopping", "True, False or 'never'", "got 1")),
    Case("beam_search", "NaN length_penalty", lambda f, e: f(e.model, e.prompt, 3, 32, length_penalty=math.nan),
         ConfigError, ("length_penalty", "finite", "nan")),
    Case("beam_search", "num_beams 0", lambda f, e: f(e.model, e.prompt, 3, 32, num_beams=0), ConfigError,
         ("num_beams", "got 0")),

    # --- loss -----------------------------------------------------------------------------------
    Case("calc_loss_batch", "target past the vocabulary", lambda f, e: f(e.inputs, _with(e.targets, 50300), e.model, "cpu"),
         InvalidInputError, ("target_batch", "token ID 50300", "vocabulary of 50257")),
    Case("calc_loss_batch", "negative target", lambda f, e: f(e.inputs, _with(e.targets, -1), e.model, "cpu"),
         InvalidInputError, ("token ID -1", "-100")),
    Case("calc_loss_batch", "a batch of zero rows", lambda f, e: f(e.inputs[:0], e.targets[:0], e.model, "cpu"),
         NotEnoughDataError, ("empty", "(0, 16)")),
    Case("calc_loss_batch", "targets of another shape", lambda f, e: f(e.inputs, e.targets[:, :-1], e.model, "cpu"),
         InvalidInputError, ("same shape", "(2, 16)", "(2, 15)")),
    Case("calc_loss_batch", "int32 targets", lambda f, e: f(e.inputs, e.targets.int(), e.model, "cpu"),
         InvalidInputError, ("target_batch", "torch.int32", ".long()")),
    Case("calc_loss_batch", "inputs as a list", lambda f, e: f(e.inputs.tolist(), e.targets, e.model, "cpu"),
         ArgumentTypeError, ("input_batch", "list")),
    Case("calc_loss_loader", "num_batches 1.5", lambda f, e: f(e.loader, e.model, "cpu", num_batches=1.5),
         ArgumentTypeError, ("num_batches", "1.5")),
    Case("calc_loss_loader", "num_batches 0", lambda f, e: f(e.loader, e.model, "cpu", num_batches=0), ConfigError,
         ("num_batches", "got 0", "None")),
    Case("calc_loss_loader", "an empty validation loader", lambda f, e: f(DataLoader([]), e.model, "cpu"),
         NotEnoughDataError, ("no batches", "validation", "train_ratio")),
    Case("calc_loss_loader", "not a loader", lambda f, e: f(5, e.model, "cpu"), ArgumentTypeError,
         ("data_loader", "DataLoader", "int")),
    Case("perplexity", "a str", lambda f, e: f("2.3"), ArgumentTypeError, ("loss", "'2.3'")),
    Case("perplexity", "several losses", lambda f, e: f(torch.ones(3)), InvalidInputError, ("(3,)", "loss.mean()")),

    # --- model and config ----------------------------------------------------------------------
    Case("GPTModel", "n_heads 0", lambda f, e: f(_cfg(n_heads=0)), ConfigError, ("n_heads", "got 0")),
    Case("GPTModel", "context_length 10**7", lambda f, e: f(_cfg(context_length=10**7)), ConfigError,
         ("context_length", "10,000,000", "GiB", "lower")),
    Case("GPTModel", "config as a list", lambda f, e: f(list(TINY_CFG.items())), ConfigError, ("dict", "list")),
    Case("GPTModel", "emb_dim not divisible by n_heads", lambda f, e: f(_cfg(n_heads=3)), ConfigError,
         ("emb_dim (16)", "n_heads (3)")),
    Case("validate_config", "n_heads 0", lambda f, e: f(_cfg(n_heads=0)), ConfigError, ("n_heads", "got 0")),
    Case("validate_config", "context_length 10**7", lambda f, e: f(_cfg(context_length=10**7)), ConfigError,
         ("context_length", "GiB")),
    Case("validate_config", "drop_rate 1.0", lambda f, e: f(_cfg(drop_rate=1.0)), ConfigError, ("drop_rate", "1.0")),
    Case("MultiHeadAttention", "num_heads 0", lambda f, e: f(16, 16, 8, 0.0, num_heads=0), ConfigError,
         ("num_heads", "got 0")),
    Case("MultiHeadAttention", "context_length 10**7", lambda f, e: f(16, 16, 10**7, 0.0, num_heads=2), ConfigError,
         ("context_length", "GiB")),
    Case("MultiHeadAttention", "dropout 1.5", lambda f, e: f(16, 16, 8, 1.5, num_heads=2), ConfigError,
         ("dropout", "[0, 1)", "1.5")),
    Case("TransformerBlock", "n_heads 0", lambda f, e: f(_cfg(n_heads=0)), ConfigError, ("n_heads", "got 0")),
    Case("FeedForward", "config without emb_dim", lambda f, e: f({}), ConfigError, ("emb_dim", "GPT_CONFIG_124M")),
    Case("FeedForward", "emb_dim 0", lambda f, e: f({"emb_dim": 0}), ConfigError, ("emb_dim", "got 0")),
    Case("LayerNorm", "emb_dim as a str", lambda f, e: f("768"), ArgumentTypeError, ("emb_dim", "'768'")),
    Case("LayerNorm", "emb_dim 0", lambda f, e: f(0), ConfigError, ("emb_dim", "got 0")),
    Case("KVCache", "n_layers 0", lambda f, e: f(0), ConfigError, ("n_layers", "got 0", "new_kv_cache")),
    Case("count_parameters", "not a model", lambda f, e: f("gpt2"), ArgumentTypeError, ("model", "'gpt2'")),
    Case("count_parameters", "tied_output_head 1", lambda f, e: f(e.model, 1), ArgumentTypeError,
         ("tied_output_head", "True or False")),
    Case("gpt2_config", "a number", lambda f, e: f(124), ArgumentTypeError, ("model_size", "124", "'124M'")),
    Case("gpt2_config", "an unknown size", lambda f, e: f("gpt5"), ConfigError, ("gpt5", "124M")),

    # --- data -----------------------------------------------------------------------------------
    Case("GPTDatasetV1", "bytes text", lambda f, e: f(TEXT.encode(), e.tok, 16, 16), ArgumentTypeError,
         ("txt", "bytes", "decode")),
    Case("GPTDatasetV1", "max_length 0", lambda f, e: f(TEXT, e.tok, 0, 16), ConfigError, ("max_length", "got 0")),
    Case("GPTDatasetV1", "stride 2.5", lambda f, e: f(TEXT, e.tok, 16, 2.5), ArgumentTypeError, ("stride", "2.5")),
    Case("GPTDatasetV1", "no tokenizer", lambda f, e: f(TEXT, "gpt2", 16, 16), ArgumentTypeError,
         ("tokenizer", "get_tokenizer()")),
    Case("create_dataloader_v1", "batch_size 0", lambda f, e: f(TEXT, batch_size=0), ConfigError,
         ("batch_size", "got 0")),
    Case("create_dataloader_v1", "batch_size 2.5", lambda f, e: f(TEXT, batch_size=2.5), ArgumentTypeError,
         ("batch_size", "2.5")),
    Case("create_dataloader_v1", "stride 0", lambda f, e: f(TEXT, max_length=16, stride=0), ConfigError,
         ("stride", "got 0")),
    Case("create_dataloader_v1", "max_length longer than the text", lambda f, e: f(TEXT, max_length=10**6, stride=16),
         NotEnoughDataError, ("max_length=1000000", "tokens")),
    Case("create_dataloader_v1", "num_workers -1", lambda f, e: f(TEXT, max_length=16, stride=16, num_workers=-1),
         ConfigError, ("num_workers", "-1")),
    Case("create_dataloader_v1", "shuffle 'no'", lambda f, e: f(TEXT, max_length=16, stride=16, shuffle="no"),
         ArgumentTypeError, ("shuffle", "True or False")),
    Case("create_dataloader_v1", "None text", lambda f, e: f(None), ArgumentTypeError, ("txt", "None")),
    Case("train_val_loaders", "train_ratio 1.5", lambda f, e: f(TEXT, 16, train_ratio=1.5), ConfigError,
         ("train_ratio", "1.5", "0.90")),
    Case("train_val_loaders", "train_ratio 0", lambda f, e: f(TEXT, 16, train_ratio=0), ConfigError,
         ("train_ratio", "(0, 1)")),
    Case("train_val_loaders", "context_length 0", lambda f, e: f(TEXT, 0), ConfigError, ("context_length", "got 0")),
    Case("train_val_loaders", "context_length as a str", lambda f, e: f(TEXT, "256"), ArgumentTypeError,
         ("context_length", "'256'")),
    Case("train_val_loaders", "bytes text", lambda f, e: f(TEXT.encode(), 16), ArgumentTypeError, ("text", "decode")),
    Case("train_val_loaders", "a validation part too short", lambda f, e: f(TEXT, 64, train_ratio=0.95),
         NotEnoughDataError, ("validation", "context_length=64", "decrease train_ratio")),
    Case("train_val_loaders", "batch_size 0", lambda f, e: f(TEXT, 16, batch_size=0), ConfigError,
         ("batch_size", "got 0")),
    Case("count_tokens", "not a loader", lambda f, e: f(5), ArgumentTypeError, ("data_loader", "int")),
    # --- training loops and devices (more cases with real runs in tests/test_training.py) --------------
    Case("train_model_simple", "zero epochs", lambda f, e: f(e.model, e.loader, e.loader, e.adamw(), "cpu", 0, 5, 5,
         "Every effort", e.tok, progress=False), ConfigError, ("num_epochs", "positive integer", "got 0")),
    Case("train_model_simple", "optimizer of another model", lambda f, e: f(e.model, e.loader, e.loader,
         torch.optim.AdamW(gptedu.GPTModel(TINY_CFG).parameters()), "cpu", 1, 5, 5, "Every effort", e.tok,
         progress=False), ConfigError, ("none of this model's weights", "AdamW(model.parameters()")),
    Case("train_model_simple", "NaN learning rate", lambda f, e: f(e.model, e.loader, e.loader, e.adamw(float("nan")),
         "cpu", 1, 5, 5, "Every effort", e.tok, progress=False), ConfigError, ("learning rate", "nan", "0.0004")),
    Case("train_model", "NaN max_norm", lambda f, e: f(e.model, e.loader, e.loader, e.adamw(), "cpu", 1, 5, 5,
         "Every effort", e.tok, max_norm=float("nan"), progress=False), ConfigError, ("max_norm", "finite", "1.0")),
    Case("train_model", "negative min_lr", lambda f, e: f(e.model, e.loader, e.loader, e.adamw(), "cpu", 1, 5, 5,
         "Every effort", e.tok, min_lr=-1.0, progress=False), ConfigError, ("min_lr", "-1.0", "climb")),
    Case("evaluate_model", "fractional eval_iter", lambda f, e: f(e.model, e.loader, e.loader, "cpu", 1.5),
         ArgumentTypeError, ("num_batches", "1.5")),
    Case("generate_and_print_sample", "no prompt text", lambda f, e: f(e.model, e.tok, "cpu", None),
         ArgumentTypeError, ("text", "None")),
    Case("lr_at_step", "warmup longer than training", lambda f, e: f(0, 10, 0.001, warmup_steps=20), ConfigError,
         ("warmup_steps", "10", "20")),
    Case("get_device", "not a device name", lambda f, e: f("tpu"), ConfigError, ("'tpu'", "not a device name", "'cuda'")),
    Case("get_device", "a device this machine lacks", lambda f, e: f("cuda:7") if not torch.cuda.is_available() or
         torch.cuda.device_count() < 8 else f("tpu"), ConfigError, ("not available", "leave the")),
    # --- the fast path ------------------------------------------------------------------------------
    Case("FastPath", "a str as a switch", lambda f, e: f(fused_kernels="yes"), ArgumentTypeError,
         ("fused_kernels", "True or False", "'yes'")),
    Case("apply_fast_path", "a str as the fast path", lambda f, e: f(e.model, "bf16"), ConfigError,
         ("fast_path", "FastPath", "fast_path_for(device)")),
    Case("apply_fast_path", "not a model", lambda f, e: f("model", gptedu.FastPath()), ArgumentTypeError,
         ("model", "'model'", "str")),
    Case("fast_path_for", "not a device name", lambda f, e: f("tpu"), ConfigError, ("device", "'tpu'", "'cuda'")),
    Case("FastPath", "bf16 and fp16 at once", lambda f, e: f(bf16=True, fp16=True), ConfigError,
         ("bf16=True and fp16=True", "fast_path_for(device)")),
    Case("quantize_int8", "a layer instead of a model", lambda f, e: f(torch.nn.Linear(4, 4)), ArgumentTypeError,
         ("model", "GPTModel", "Linear")),
    Case("Int8Linear", "a convolution", lambda f, e: f(torch.nn.Conv1d(4, 4, 1)), ArgumentTypeError,
         ("linear", "nn.Linear", "Conv1d")),
    Case("fast_path_for", "a str as quick_dropout", lambda f, e: f("cpu", quick_dropout="yes"), ArgumentTypeError,
         ("quick_dropout", "True or False", "'yes'")),
    Case("autocast_precision", "not a device name", lambda f, e: f("tpu"), ConfigError, ("device", "'tpu'", "'cuda'")),
    Case("LossScaler", "a negative starting scale", lambda f, e: f(init_scale=-1.0), ConfigError,
         ("init_scale", "-1", "2**16")),
    Case("LossScaler", "a growth interval of 0", lambda f, e: f(growth_interval=0), ConfigError, ("growth_interval", "0")),
    Case("native_bf16", "a device given as an int", lambda f, e: f(0), ArgumentTypeError, ("device", "0", "int")),
    Case("make_optimizer", "NaN learning rate", lambda f, e: f(e.model, lr=float("nan")), ConfigError,
         ("lr", "nan", "0.0004")),
    Case("make_optimizer", "negative weight decay", lambda f, e: f(e.model, weight_decay=-1), ConfigError,
         ("weight_decay", "-1", "0.1")),
    # --- pretrained GPT-2: the malformed files of a download gone wrong -----------------------------------
    Case("load_gpt2", "a size given as an int", lambda f, e: f(124), ArgumentTypeError, ("model_size", "124", "'124M'")),
    Case("load_gpt2", "an unknown size", lambda f, e: f("125M"), ConfigError, ("'125M'", "124M", "gpt2-medium")),
    Case("load_gpt2", "a source given as an int", lambda f, e: f("124M", source=5), ArgumentTypeError,
         ("source", "5", "'huggingface'")),
    Case("load_gpt2", "not a device name", lambda f, e: f("124M", source=e.files.book, device="tpu"), ConfigError,
         ("device", "'tpu'")),
    Case("load_gpt2", "a text file as weights", lambda f, e: f(None, source=e.files.text), gptedu.errors.FileKindError,
         ("text.pth", "a text file", "not a safetensors file or a torch.save file")),
    Case("load_gpt2", "random bytes", lambda f, e: f(None, source=e.files.random), gptedu.errors.FileKindError,
         ("random.bin", "binary data", "random bytes")),
    Case("load_gpt2", "a truncated .pth", lambda f, e: f(None, source=e.files.truncated), gptedu.ChecksumError,
         ("truncated.pth", "truncated", "another copy")),
    Case("load_gpt2", "a truncated .safetensors", lambda f, e: f(None, source=e.files.truncated_st), gptedu.ChecksumError,
         ("truncated.safetensors", "truncated")),
    Case("load_gpt2", "a pickle weights_only refuses", lambda f, e: f(None, source=e.files.evil), gptedu.UnsafeFileError,
         ("evil.pth", "pickled Python objects", "weights_only=True")),
    Case("load_gpt2", "a .pth holding a list", lambda f, e: f(None, source=e.files.a_list), ConfigError,
         ("list.pth", "list", "not a state_dict")),
    Case("load_gpt2", "a state dict of non-tensors", lambda f, e: f(None, source=e.files.numbers),
         gptedu.errors.FileKindError, ("numbers.pth", "'wte.weight' = int", "not a tensor")),
    Case("load_gpt2", "config.json that is not JSON", lambda f, e: f(None, source=e.files.bad_json), ConfigError,
         ("config.json", "not valid JSON", "delete it")),
    Case("load_gpt2", "config.json missing keys", lambda f, e: f(None, source=e.files.missing_keys), ConfigError,
         ("config.json", "lacks n_head, n_layer")),
    Case("load_gpt2", "a book state dict without tok_emb", lambda f, e: f(None, source=e.files.headless), ConfigError,
         ("headless.pth", "lacks tok_emb.weight")),
    Case("load_gpt2", "a truncated pytorch_model.bin", lambda f, e: f(None, source=e.files.truncated_bin), gptedu.ChecksumError,
         ("pytorch_model.bin", "truncated")),
    Case("load_gpt2", "a truncated file of torch.save's older format", lambda f, e: f(None, source=e.files.truncated_legacy),
         gptedu.ChecksumError, ("legacy-truncated.pth", "not a readable PyTorch file", "truncated")),
    Case("load_gpt2", "a folder without weights", lambda f, e: f(None, source=e.files.empty_folder), gptedu.DataNotFoundError,
         ("holds no GPT-2 weights", "model.safetensors")),
    Case("build_empty_gpt", "not a device name", lambda f, e: f(TINY_CFG, device="tpu"), ConfigError, ("device", "'tpu'")),
    Case("build_empty_gpt", "a config with num_heads 0", lambda f, e: f(_cfg(n_heads=0)), ConfigError, ("n_heads", "0")),
    Case("export_to_hf", "not a model", lambda f, e: f("model", e.files.root / "export"), ArgumentTypeError,
         ("model", "GPTModel", "'model'")),
    Case("export_to_hf", "into a folder with another model.safetensors", lambda f, e: f(e.gpt2_shaped, e.files.foreign_hf),
         gptedu.errors.OverwriteRefusedError, ("model.safetensors", "did not write", "force=True")),
    Case("export_to_hf", "into a path that is a file", lambda f, e: f(e.gpt2_shaped, e.files.text), ConfigError,
         ("text.pth", "is a file", "new folder")),
    Case("load_weights_into_gpt", "not a model", lambda f, e: f("gpt", {}), ArgumentTypeError, ("gpt", "GPTModel")),
    Case("load_weights_into_gpt", "params given as an int", lambda f, e: f(e.gpt2_shaped, 5), ArgumentTypeError,
         ("params", "5", "state dict")),
    Case("load_weights_into_gpt", "an incomplete state dict", lambda f, e: f(e.gpt2_shaped, {}), ConfigError,
         ("no values for", "incomplete")),
    Case("load_gpt2_params_from_tf_ckpt", "settings without n_layer", lambda f, e: f(e.files.root / "model.ckpt", {}),
         ConfigError, ("settings", "n_layer", "hparams.json")),
    Case("load_gpt2_params_from_tf_ckpt", "no checkpoint there", lambda f, e: f(e.files.root / "model.ckpt", {"n_layer": 1}),
         gptedu.DataNotFoundError, ("No TensorFlow checkpoint", "model.ckpt.index")),
    Case("read_tf_checkpoint", "no checkpoint there", lambda f, e: list(f(e.files.root / "model.ckpt")),
         gptedu.DataNotFoundError, ("No TensorFlow checkpoint", "model.ckpt.index")),
    # --- saving and loading (file kinds in detail: tests/test_file_kinds.py) -----------------------------
    Case("Checkpoint", "a str as the model", lambda f, e: f("model", {}), ArgumentTypeError, ("model", "GPTModel")),
    Case("load_checkpoint", "a text file", lambda f, e: f(e.files.text), gptedu.errors.FileKindError,
         ("text.pth", "a text file")),
    Case("load_checkpoint", "a str as the model", lambda f, e: f(e.files.text, model="model"), ArgumentTypeError,
         ("model", "GPTModel")),
    Case("load_model", "a path given as None", lambda f, e: f(None), ArgumentTypeError, ("path", "None")),
    Case("load_model", "random bytes", lambda f, e: f(e.files.random), gptedu.errors.FileKindError,
         ("random.bin", "binary data")),
    Case("save_checkpoint", "a str as the optimizer", lambda f, e: f(e.files.root / "c.safetensors", e.model,
         optimizer="adam"), ArgumentTypeError, ("optimizer", "'adam'")),
    Case("save_model", "a .txt name", lambda f, e: f(e.model, e.files.root / "model.txt"), ConfigError,
         (".safetensors", "model.txt")),
    Case("save_model", "a str as dtype", lambda f, e: f(e.model, e.files.root / "m.safetensors", dtype="bf16"), ConfigError,
         ("dtype", "'bf16'", "torch.float16")),
    Case("load_text", "an int as the name", lambda f, e: f(5), ArgumentTypeError, ("name_or_path", "5", "the-verdict")),
    Case("load_text", "a file that is not UTF-8", lambda f, e: f(e.files.latin), gptedu.errors.TextEncodingError,
         ("latin.txt", "not UTF-8", "0xE9")),
    Case("load_text", "an unknown corpus", lambda f, e: f("no-such-corpus"), gptedu.DataNotFoundError,
         ("'no-such-corpus'", "the-verdict")),
    Case("download_file", "a short SHA-256", lambda f, e: f("https://example.com/x", "x.txt", "abc"), ConfigError,
         ("sha256", "64 hexadecimal", "'abc'")),
    Case("download_file", "a negative timeout", lambda f, e: f("https://example.com/x", "x.txt", "0" * 64, timeout=-1),
         ConfigError, ("timeout", "-1", "seconds")),
    # --- figures and the notebook helper -------------------------------------------------------------
    Case("plot_learning_rate", "no learning rates", lambda f, e: f([]), InvalidInputError, ("track_lrs", "empty")),
    Case("plot_learning_rate", "a str", lambda f, e: f("abc"), ArgumentTypeError, ("track_lrs", "'abc'", "list of numbers")),
    Case("plot_losses", "lists of different lengths", lambda f, e: f([1, 2], [1, 2], [1.0], [1.0, 2.0]), InvalidInputError,
         ("same length", "2, 2, 1, 2")),
    Case("plot_losses", "a NaN loss", lambda f, e: f([1, 2], [1, 2], [1.0, float("nan")], [1.0, 2.0]), InvalidInputError,
         ("train_losses", "nan", "Lower the learning rate")),
    Case("plot_perplexity", "lists of different lengths", lambda f, e: f([1, 2], [1.0], [1.0, 2.0]), InvalidInputError,
         ("same length", "2, 1, 2")),
    Case("plot_perplexity", "a loss too large to exponentiate", lambda f, e: f([1], [800.0], [1.0]), InvalidInputError,
         ("800", "perplexity too large")),
    Case("plot_loss_chain", "a probability above 1", lambda f, e: f([1.5], ["a"]), InvalidInputError, ("(0, 1]", "1.5")),
    Case("plot_loss_chain", "fewer labels than probabilities", lambda f, e: f([0.1, 0.2], ["a"]), InvalidInputError,
         ("same length", "2 and 1")),
    Case("plot_top_k_top_p", "top_k 0", lambda f, e: f(torch.randn(50257), e.tok, 0, 0.9), ConfigError, ("top_k", "got 0")),
    Case("plot_top_k_top_p", "a batch of logits", lambda f, e: f(torch.randn(2, 50257), e.tok, 5, 0.9), InvalidInputError,
         ("(vocab_size,)", "(2, 50257)")),
    Case("plot_training_summary", "zero epochs", lambda f, e: f(0, ([1.0], [1.0], [1])), ConfigError, ("num_epochs", "got 0")),
    Case("plot_training_summary", "a str as the history", lambda f, e: f(2, "abc"), ArgumentTypeError,
         ("history", "train_model_simple")),
    Case("show_source", "a number", lambda f, e: f(5), ArgumentTypeError, ("show_source", "5", "int")),
    Case("checkpoint_folder", "a number as the name", lambda f, e: f(5), ArgumentTypeError, ("name", "5", "int")),
    Case("checkpoint_folder", "a path as the name", lambda f, e: f("/content/drive/MyDrive/gptedu"), ConfigError,
         ("one folder", "without slashes", "'/content/drive/MyDrive/gptedu'", 'checkpoint_folder("gptedu")')),
    Case("checkpoint_folder", "an empty name", lambda f, e: f(""), ConfigError, ("name", "''", "one folder")),
    Case("checkpoint_folder", "use_drive 'yes'", lambda f, e: f(use_drive="yes"), ArgumentTypeError,
         ("use_drive", "True or False", "'yes'")),
]

#: Public callables without a case here, each with the reason.
EXEMPT: dict[str, str] = {
    "GELU": "takes no arguments; its forward is a plain tensor formula",
    "get_tokenizer": "takes no arguments",
    "Beam": "a result type that beam_search returns; nobody builds one from user input",
    "LayerKVCache": "built by KVCache / GPTModel.new_kv_cache(), not by users (its optional dict is internal)",
    "TrainingHistory": "a NamedTuple of the loops' lists; the loops build it, nobody passes user input to it",
    "cache_dir": "takes no arguments",
    "enable_fast_malloc": "takes no arguments",
}
EXEMPT.update({
    name: "an exception class: gptedu raises it, nobody calls it with user input"
    for name in gptedu.__all__
    if inspect.isclass(getattr(gptedu, name)) and issubclass(getattr(gptedu, name), BaseException)
})

PUBLIC_CALLABLES = sorted(name for name in gptedu.__all__ if callable(getattr(gptedu, name)))


def _adamw(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0004)
    optimizer.param_groups[0]["lr"] = lr  # set after construction, as a student might (AdamW refuses a NaN itself)
    return optimizer


def _with_nan_weights(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with one NaN in its final layer norm: every logit becomes NaN, as after a diverged run."""
    with torch.no_grad():
        model.final_norm.scale[0] = float("nan")
    return model


def _bad_files(root) -> SimpleNamespace:
    """The malformed files a student meets: a text file named .pth, random bytes, truncated copies, ..."""
    from safetensors.torch import save_file

    class Payload:  # a pickle that would run code: weights_only=True must refuse it
        def __reduce__(self):
            return (print, ("this must never print",))

    files = SimpleNamespace(root=root, text=root / "text.pth", random=root / "random.bin", book=root / "book.pth",
                            truncated=root / "truncated.pth", truncated_st=root / "truncated.safetensors",
                            evil=root / "evil.pth", a_list=root / "list.pth", numbers=root / "numbers.pth",
                            headless=root / "headless.pth", bad_json=root / "bad-json", missing_keys=root / "missing-keys",
                            empty_folder=root / "empty", foreign_hf=root / "foreign-hf", latin=root / "latin.txt",
                            truncated_bin=root / "hf-truncated" / "pytorch_model.bin",
                            truncated_legacy=root / "legacy-truncated.pth")
    files.text.write_text("hello world\n")
    files.random.write_bytes(bytes(range(256)) * 20)
    state = gptedu.GPTModel(_cfg(qkv_bias=True)).state_dict()
    torch.save(state, files.book)
    files.truncated.write_bytes(files.book.read_bytes()[:5000])
    files.truncated_bin.parent.mkdir()
    files.truncated_bin.write_bytes(files.book.read_bytes()[:5000])
    torch.save(state, root / "legacy.pth", _use_new_zipfile_serialization=False)
    files.truncated_legacy.write_bytes((root / "legacy.pth").read_bytes()[:5000])
    files.latin.write_bytes(b"Every effort moves you to caf\xe9s\n")
    save_file({"wte.weight": torch.zeros(8, 4)}, str(root / "whole.safetensors"))
    files.truncated_st.write_bytes((root / "whole.safetensors").read_bytes()[:-20])
    torch.save({"weights": Payload()}, files.evil)
    torch.save([1, 2, 3], files.a_list)
    torch.save({"wte.weight": 7}, files.numbers)
    torch.save({k: v for k, v in state.items() if not k.startswith("tok_emb")}, files.headless)
    for folder, config in ((files.bad_json, "{not json"), (files.missing_keys, '{"n_embd": 16}')):
        folder.mkdir()
        (folder / "config.json").write_text(config)
        save_file({"wte.weight": torch.zeros(8, 4)}, str(folder / "model.safetensors"))
    files.empty_folder.mkdir()
    files.foreign_hf.mkdir()
    save_file({"wte.weight": torch.zeros(8, 4)}, str(files.foreign_hf / "model.safetensors"))  # a download, say
    return files


@pytest.fixture(scope="module")
def env(tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = gptedu.GPTModel(TINY_CFG).eval()
    inputs = torch.randint(0, 50257, (2, 16), generator=torch.Generator().manual_seed(1))
    return SimpleNamespace(
        tok=tokenizer,
        model=model,
        prompt=gptedu.text_to_token_ids("Every effort moves you", tokenizer),  # (1, 4)
        tok_ids=lambda text: gptedu.text_to_token_ids(text, tokenizer),
        logits=torch.tensor([4.0, 1.0, 3.0, 2.0, 0.5]),
        inputs=inputs,
        targets=inputs.roll(-1, dims=1),
        loader=DataLoader([(inputs, inputs.roll(-1, dims=1))] * 3, batch_size=None),
        adamw=lambda lr=0.0004: _adamw(model, lr),
        gpt2_shaped=gptedu.GPTModel(_cfg(qkv_bias=True)).eval(),
        broken=_with_nan_weights(gptedu.GPTModel(TINY_CFG).eval()),
        files=_bad_files(tmp_path_factory.mktemp("bad-files")),
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{case.target}: {case.label}" for case in CASES])
def test_bad_input_gets_a_clear_gptedu_error(case, env):
    with pytest.raises(case.error) as excinfo:
        case.call(getattr(gptedu, case.target), env)
    message = str(excinfo.value)
    missing = [word for word in case.words if word not in message]
    assert not missing, f"{case.target} ({case.label}): {missing} not in the message {message!r}"
    assert isinstance(excinfo.value, GPTEduError)  # so that the CLI can turn it into one clear line


def test_every_public_callable_has_a_case_or_an_exemption():
    covered = {case.target for case in CASES}
    missing = [name for name in PUBLIC_CALLABLES if name not in covered and name not in EXEMPT]
    assert missing == [], (f"Public callables without a bad-input case in tests/test_bad_inputs.py: {missing}. "
                           "Add a Case to CASES, or an EXEMPT entry saying why there is none.")


def test_cases_and_exemptions_name_public_callables_only():
    covered = {case.target for case in CASES}
    assert covered - set(PUBLIC_CALLABLES) == set()
    assert set(EXEMPT) - set(PUBLIC_CALLABLES) == set()  # no stale entry for a name that left __all__
    assert covered & set(EXEMPT) == set()  # a callable with cases is not exempt
    assert all(reason.strip() for reason in EXEMPT.values())


# --- The legitimate inputs next to the bad ones ------------------------------------------------


def test_empty_text_gives_an_empty_long_tensor(tokenizer):
    ids = gptedu.text_to_token_ids("", tokenizer)
    assert ids.dtype == torch.long and ids.shape == (1, 0)  # it used to be float32
    assert gptedu.token_ids_to_text(ids, tokenizer) == ""


def test_text_to_token_ids_returns_long_ids(tokenizer):
    ids = gptedu.text_to_token_ids("Every effort moves you<|endoftext|>", tokenizer)
    assert ids.dtype == torch.long
    assert ids.tolist() == [[6109, 3626, 6100, 345, 50256]]


@pytest.mark.parametrize("token_ids", [[6109, 3626], [[6109, 3626]], (6109, 3626), torch.tensor([6109, 3626], dtype=torch.int32)])
def test_token_ids_to_text_accepts_lists_and_integer_tensors(tokenizer, token_ids):
    assert gptedu.token_ids_to_text(token_ids, tokenizer) == "Every effort"


def test_the_last_id_of_the_vocabulary_decodes(tokenizer):
    assert gptedu.token_ids_to_text(torch.tensor([50256]), tokenizer) == "<|endoftext|>"


def test_eos_id_at_the_end_of_the_vocabulary_is_accepted(env):
    out = gptedu.generate_text(env.model, env.prompt, 3, 32, eos_id=50256)
    assert out.shape[0] == 1 and 4 <= out.shape[1] <= 7


def test_context_size_below_or_equal_to_the_models_is_accepted(env):
    short = gptedu.generate_text_simple(env.model, env.prompt, 3, 8)
    full = gptedu.generate_text_simple(env.model, env.prompt, 3, 32)
    assert short.shape == full.shape == (1, 7)


@pytest.mark.parametrize("temperature", [0, 0.0, 1e-3, 0.5, 1, 1e3])
def test_temperatures_in_the_documented_range_work(temperature):
    probs = gptedu.next_token_probs(torch.tensor([4.0, 1.0, 3.0]), temperature=temperature)
    assert torch.isfinite(probs).all() and probs.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("temperature", [0.0009, 1000.1, -1e-9])
def test_temperatures_just_outside_the_range_are_refused(temperature):
    with pytest.raises(ConfigError, match="0.001 to 1000"):
        gptedu.next_token_probs(torch.tensor([4.0, 1.0, 3.0]), temperature=temperature)


def test_top_p_of_exactly_1_keeps_every_token():
    logits = torch.tensor([4.0, 1.0, 3.0])
    assert torch.equal(gptedu.top_p_filter(logits, 1), logits)


def test_calc_loss_batch_skips_targets_of_minus_100_as_cross_entropy_does(env):
    targets = env.targets.clone()
    targets[:, :5] = -100  # cross_entropy's ignore_index: padding in the book's later chapters
    with torch.no_grad():
        loss = gptedu.calc_loss_batch(env.inputs, targets, env.model, "cpu")
        logits = env.model(env.inputs)
    expected = F.cross_entropy(logits[:, 5:].flatten(0, 1), env.targets[:, 5:].flatten())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_calc_loss_loader_with_num_batches_none_averages_every_batch(env):
    with torch.no_grad():
        one = gptedu.calc_loss_batch(env.inputs, env.targets, env.model, "cpu").item()
        assert gptedu.calc_loss_loader(env.loader, env.model, "cpu", num_batches=None) == pytest.approx(one)


def test_the_longest_context_the_mask_budget_allows_is_accepted():
    from gptedu.config import MAX_MASK_BYTES, causal_mask_bytes

    longest = int((MAX_MASK_BYTES / 4) ** 0.5)  # one layer: 32,768 positions fill 4 GiB exactly
    assert causal_mask_bytes(longest) <= MAX_MASK_BYTES < causal_mask_bytes(longest + 1)
    gptedu.validate_config(_cfg(context_length=longest, n_layers=1))
    with pytest.raises(ConfigError, match="at most 32,768 with 1 layer"):
        gptedu.validate_config(_cfg(context_length=longest + 1, n_layers=1))


@pytest.mark.parametrize("name", sorted(gptedu.GPT2_PRESETS))
def test_every_gpt2_size_fits_the_mask_budget(name):
    gptedu.validate_config(gptedu.GPT2_PRESETS[name])  # 48 layers x 1024 x 1024 floats: 192 MiB


def test_the_split_of_a_text_always_gives_a_validation_batch(tokenizer):
    # train_val_loaders refuses a split whose validation part has no window, so its val loader is never empty
    _, val_loader = gptedu.train_val_loaders(TEXT, 16, batch_size=2)
    assert len(val_loader) >= 1
