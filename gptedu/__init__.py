"""gptedu: pretrain a GPT from scratch and load GPT-2's weights, one notebook at a time.

The package holds the tested code the notebooks import, under the names of the book
*Build a Large Language Model (From Scratch)*. Each module matches a notebook:

- ``tokenizer``  (01) text to token IDs and back
- ``loss``       (02) cross-entropy and perplexity
- ``data``       (03) corpora, sliding windows, data loaders
- ``model``      the GPT architecture the series trains
- ``training``   (04) training loops, learning-rate schedule, gradient accumulation, device choice
- ``fast_path``  (04) fused kernels, fused AdamW, bf16 or fp16 autocast, torch.compile: switchable speed-ups
- ``loss_scaling`` float16 training without lost gradients (the fast path on T4 and V100 GPUs)
- ``performance`` speed-ups that change no number (the malloc setting)
- ``generation`` (04, 05) greedy decoding, temperature, top-k, top-p, KV-cached generation
- ``sampling``   (05) the logits transforms: temperature, top-k, top-p
- ``beam_search`` (05) beam search
- ``quantize``   (05) int8 weights for faster generation on a CPU (opt-in)
- ``widgets``    (05) the interactive sampling explorer (needs ipywidgets)
- ``figures``    (01, 03) concept figures: tokens as pieces of text, sliding windows, the split
- ``plots``      (02, 04, 05) the loss chain, top-k and top-p cuts; loss, perplexity and learning-rate figures
- ``notebook``   helpers for the notebooks (``show_source``, ``checkpoint_folder``: Google Drive on Colab)
- ``pretrained`` (07) OpenAI's GPT-2 weights in ``GPTModel`` (``hub``, ``tf_checkpoint``, ``openai_download``)
- ``distributed`` training on several processes or GPUs with ``torchrun`` (DistributedDataParallel)
- ``cli``        the ``gptedu train`` command
"""

from .beam_search import Beam, beam_search
from .checkpoints import Checkpoint, load_checkpoint, load_model, save_checkpoint, save_model
from .config import GPT2_PRESETS, GPT_CONFIG_124M, gpt2_config, validate_config
from .data import CORPORA, GPTDatasetV1, count_tokens, create_dataloader_v1, load_text, train_val_loaders
from .download import cache_dir, download_file
from .errors import (
    ArgumentTypeError,
    ChecksumError,
    ConfigError,
    DataNotFoundError,
    FormatVersionError,
    GPTEduError,
    InvalidInputError,
    NotEnoughDataError,
    TrainingDivergedError,
    UnsafeFileError,
)
from .fast_path import FastPath, apply_fast_path, autocast_precision, fast_path_for, make_optimizer, native_bf16
from .generation import generate_text, generate_text_simple
from .loss import calc_loss_batch, calc_loss_loader, perplexity
from .loss_scaling import LossScaler
from .model import (
    GELU,
    FeedForward,
    GPTModel,
    KVCache,
    LayerKVCache,
    LayerNorm,
    MultiHeadAttention,
    TransformerBlock,
    count_parameters,
)
from .notebook import checkpoint_folder, show_source
from .performance import enable_fast_malloc
from .plots import plot_learning_rate, plot_loss_chain, plot_losses, plot_perplexity, plot_top_k_top_p, plot_training_summary
from .pretrained import GPT2_PARAMETER_COUNTS, HF_REPOS, build_empty_gpt, export_to_hf, load_gpt2, load_weights_into_gpt
from .quantize import Int8Linear, quantize_int8
from .sampling import (
    apply_temperature,
    next_token_probs,
    sample_next_token,
    softmax_with_temperature,
    top_k_filter,
    top_p_filter,
)
from .tf_checkpoint import load_gpt2_params_from_tf_ckpt, read_tf_checkpoint
from .tokenizer import get_tokenizer, text_to_token_ids, token_ids_to_text
from .training import (
    TrainingHistory,
    evaluate_model,
    generate_and_print_sample,
    get_device,
    lr_at_step,
    train_model,
    train_model_simple,
)

__version__ = "0.1.0"

__all__ = [
    "GPT2_PARAMETER_COUNTS", "HF_REPOS", "build_empty_gpt", "export_to_hf", "load_gpt2", "load_gpt2_params_from_tf_ckpt",
    "load_weights_into_gpt", "read_tf_checkpoint",
    "CORPORA", "GELU", "GPT2_PRESETS", "GPT_CONFIG_124M", "ChecksumError", "ConfigError", "DataNotFoundError",
    "FeedForward", "GPTDatasetV1", "GPTEduError", "GPTModel", "LayerNorm", "MultiHeadAttention",
    "NotEnoughDataError", "TrainingHistory", "TransformerBlock", "cache_dir", "calc_loss_batch",
    "calc_loss_loader", "count_parameters", "count_tokens", "create_dataloader_v1", "download_file", "enable_fast_malloc",
    "evaluate_model", "generate_and_print_sample", "generate_text", "generate_text_simple", "get_device",
    "get_tokenizer", "gpt2_config", "load_text", "lr_at_step", "perplexity", "plot_learning_rate",
    "plot_loss_chain", "plot_losses", "plot_perplexity", "plot_top_k_top_p", "plot_training_summary", "show_source", "checkpoint_folder", "text_to_token_ids", "token_ids_to_text",
    "train_model", "train_model_simple", "train_val_loaders", "validate_config",
    "Beam", "Int8Linear", "KVCache", "LayerKVCache", "apply_temperature", "quantize_int8", "beam_search", "next_token_probs", "sample_next_token",
    "softmax_with_temperature", "top_k_filter", "top_p_filter",
    "FastPath", "LossScaler", "apply_fast_path", "autocast_precision", "fast_path_for", "make_optimizer", "native_bf16",
    "ArgumentTypeError", "InvalidInputError", "TrainingDivergedError",
    "Checkpoint", "FormatVersionError", "UnsafeFileError", "load_checkpoint", "load_model", "save_checkpoint", "save_model",
]
