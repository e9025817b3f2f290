"""gptedu.model: the GPT architecture, checked against the book's model in seed_reference.

gptedu's model must be the seed's model parameter for parameter (same names, shapes and
initialisation), compute the same logits, and draw the same dropout masks in training.
Real GPT-2 sizes are built on the meta device: shapes and counts without the memory.
"""

import pytest
import seed_reference as seed
import torch
import torch.nn.functional as F

from gptedu import GELU, GPT_CONFIG_124M, ConfigError, GPTModel, LayerNorm, MultiHeadAttention, count_parameters, gpt2_config


def shapes(state_dict):
    return {name: tuple(tensor.shape) for name, tensor in state_dict.items()}


def seed_and_ours(cfg, seed_value=123):
    """The seed's model and gptedu's, each initialised after torch.manual_seed(seed_value)."""
    torch.manual_seed(seed_value)
    reference = seed.GPTModel(cfg)
    torch.manual_seed(seed_value)
    ours = GPTModel(cfg)
    return reference, ours


def token_batch(cfg, batch=2, num_tokens=None, generator_seed=0):
    generator = torch.Generator().manual_seed(generator_seed)
    return torch.randint(0, cfg["vocab_size"], (batch, num_tokens or cfg["context_length"]), generator=generator)


# --- Same parameters as the seed -------------------------------------------------------------------


def test_state_dict_matches_the_seeds_for_gpt_config_124m():
    with torch.device("meta"):
        reference, ours = seed.GPTModel(GPT_CONFIG_124M), GPTModel(GPT_CONFIG_124M)
    assert list(ours.state_dict()) == list(reference.state_dict())  # same names in the same order
    assert shapes(ours.state_dict()) == shapes(reference.state_dict())


def test_state_dict_matches_the_seeds_for_a_small_config(small_cfg):
    reference, ours = seed_and_ours(small_cfg)
    assert shapes(ours.state_dict()) == shapes(reference.state_dict())


def test_same_seed_initialises_the_same_weights_as_the_seed(small_cfg):
    reference, ours = seed_and_ours(small_cfg)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name


def test_seed_state_dict_loads_strictly_into_gptedu(small_cfg):
    reference, _ = seed_and_ours(small_cfg, seed_value=1)
    ours = GPTModel(small_cfg)
    ours.load_state_dict(reference.state_dict(), strict=True)
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in reference.state_dict().items())


def test_gptedu_state_dict_loads_strictly_into_the_seed(small_cfg):
    _, ours = seed_and_ours(small_cfg, seed_value=1)
    reference = seed.GPTModel(small_cfg)
    reference.load_state_dict(ours.state_dict(), strict=True)
    assert all(torch.equal(reference.state_dict()[k], v) for k, v in ours.state_dict().items())


# --- Same logits as the seed -----------------------------------------------------------------------


def test_eval_logits_equal_the_seeds_within_1e_5(small_cfg):
    reference, ours = seed_and_ours(small_cfg)
    reference.eval(), ours.eval()
    batch = token_batch(small_cfg)
    with torch.no_grad():
        torch.testing.assert_close(ours(batch), reference(batch), atol=1e-5, rtol=0)


def test_eval_logits_equal_the_seeds_for_gpt_config_124m():
    torch.manual_seed(123)
    reference = seed.GPTModel(GPT_CONFIG_124M).eval()
    with torch.device("meta"):
        ours = GPTModel(GPT_CONFIG_124M)
    ours.load_state_dict(reference.state_dict(), assign=True)  # share the seed's tensors: no second 650 MB copy
    ours.eval()
    batch = token_batch(GPT_CONFIG_124M, batch=1, num_tokens=6)
    with torch.no_grad():
        torch.testing.assert_close(ours(batch), reference(batch), atol=1e-5, rtol=0)


def test_train_mode_draws_the_same_dropout_as_the_seed(small_cfg):
    reference, ours = seed_and_ours(small_cfg)
    reference.train(), ours.train()
    batch = token_batch(small_cfg)
    torch.manual_seed(7)
    reference_logits = reference(batch)
    torch.manual_seed(7)
    ours_logits = ours(batch)
    assert torch.equal(ours_logits, reference_logits)  # same operations, same random numbers: bit for bit
    with torch.no_grad():
        assert not torch.allclose(ours.eval()(batch), ours_logits, atol=1e-3)  # dropout really was on


def test_train_mode_gradients_equal_the_seeds(small_cfg):
    reference, ours = seed_and_ours(small_cfg)
    batch = token_batch(small_cfg)
    for model in (reference, ours):
        model.train()
        torch.manual_seed(7)
        model(batch).logsumexp(-1).mean().backward()
    for (name, ref_param), (_, our_param) in zip(reference.named_parameters(), ours.named_parameters(), strict=True):
        torch.testing.assert_close(our_param.grad, ref_param.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_explicit_attention_gives_the_same_logits_as_sdpa(small_cfg):
    _, model = seed_and_ours(small_cfg)
    model.eval()
    batch = token_batch(small_cfg)
    with torch.no_grad():
        fast = model(batch)
        for block in model.trf_blocks:
            block.att.use_sdpa = False
        explicit = model(batch)
    torch.testing.assert_close(explicit, fast, atol=1e-5, rtol=0)


def test_logits_have_shape_batch_tokens_vocab(small_model, small_cfg):
    with torch.no_grad():
        assert small_model(token_batch(small_cfg, batch=3, num_tokens=5)).shape == (3, 5, 50257)


def test_int32_token_ids_give_the_same_logits_as_int64(small_model, small_cfg):
    batch = token_batch(small_cfg)
    with torch.no_grad():
        torch.testing.assert_close(small_model(batch.int()), small_model(batch))


# --- The building blocks against PyTorch's own functions --------------------------------------------


def test_layer_norm_equals_torchs_layer_norm():
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0)) * 3 + 1
    torch.testing.assert_close(LayerNorm(16)(x), F.layer_norm(x, (16,), eps=1e-5))


def test_gelu_is_torchs_tanh_approximation():
    x = torch.linspace(-6, 6, 101)
    torch.testing.assert_close(GELU()(x), F.gelu(x, approximate="tanh"), atol=1e-6, rtol=0)


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_attention_is_causal(use_sdpa):
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_in=8, d_out=8, context_length=6, dropout=0.0, num_heads=2).eval()
    attention.use_sdpa = use_sdpa
    x = torch.randn(1, 6, 8)
    changed_future = x.clone()
    changed_future[:, 4:] = torch.randn(1, 2, 8)
    with torch.no_grad():
        torch.testing.assert_close(attention(changed_future)[:, :4], attention(x)[:, :4])


def test_attention_heads_must_divide_d_out():
    with pytest.raises(ConfigError, match="divisible"):
        MultiHeadAttention(d_in=8, d_out=10, context_length=4, dropout=0.0, num_heads=4)


# --- Parameter counts ----------------------------------------------------------------------------


def test_gpt_config_124m_with_the_books_context_1024_has_163_009_536_parameters():
    with torch.device("meta"):
        model = GPTModel({**GPT_CONFIG_124M, "context_length": 1024})
    assert count_parameters(model) == 163_009_536  # the book's count: untied output head


def test_gpt_config_124m_with_context_256_has_768x768_fewer_parameters():
    with torch.device("meta"):
        model = GPTModel(GPT_CONFIG_124M)
    assert count_parameters(model) == 163_009_536 - (1024 - 256) * 768 == 162_419_712  # fewer position embeddings


@pytest.mark.parametrize(
    ("size", "parameters"),
    [("124M", 124_439_808), ("355M", 354_823_168), ("774M", 774_030_080), ("1558M", 1_557_611_200)],
)
def test_gpt2_sizes_with_tied_output_head_have_openais_parameter_counts(size, parameters):
    with torch.device("meta"):
        model = GPTModel(gpt2_config(size))
    assert count_parameters(model, tied_output_head=True) == parameters


def test_tied_count_subtracts_the_output_head():
    with torch.device("meta"):
        model = GPTModel(GPT_CONFIG_124M)
    untied = sum(p.numel() for p in model.parameters())
    assert count_parameters(model, tied_output_head=True) == untied - 50257 * 768


def test_a_model_with_an_already_tied_head_is_counted_once():
    with torch.device("meta"):
        model = GPTModel(gpt2_config("124M"))
    model.out_head.weight = model.tok_emb.weight  # GPT-2's weight tying
    assert count_parameters(model) == count_parameters(model, tied_output_head=True) == 124_439_808


def test_attention_mask_is_not_counted_as_a_parameter(small_model):
    assert count_parameters(small_model) == sum(p.numel() for p in small_model.parameters())
    assert "trf_blocks.0.att.mask" in small_model.state_dict()


# --- Input errors a student can act on --------------------------------------------------------------


def test_input_longer_than_the_context_says_how_to_crop(small_model, small_cfg):
    with pytest.raises(ValueError) as excinfo:
        small_model(token_batch(small_cfg, num_tokens=33))
    message = str(excinfo.value)
    assert "33 tokens" in message
    assert "context_length is 32" in message
    assert "in_idx[:, -32:]" in message


def test_input_of_exactly_the_context_length_works(small_model, small_cfg):
    with torch.no_grad():
        assert small_model(token_batch(small_cfg, num_tokens=32)).shape == (2, 32, 50257)


@pytest.mark.parametrize("shape", [(5,), (1, 2, 5)])
def test_input_without_a_batch_dimension_or_with_too_many_says_so(small_model, shape):
    with pytest.raises(ValueError, match=r"\(batch, num_tokens\)") as excinfo:
        small_model(torch.zeros(shape, dtype=torch.long))
    assert "text_to_token_ids" in str(excinfo.value)


def test_float_input_is_rejected(small_model):
    with pytest.raises(ValueError, match="must be integers"):
        small_model(torch.zeros(1, 4))


@pytest.mark.parametrize("bad_id", [50257, 60000, -1])
def test_token_id_outside_the_vocabulary_is_rejected(small_model, bad_id):
    ids = torch.tensor([[1, 2, bad_id]])
    with pytest.raises(ValueError, match=r"Token IDs must lie in \[0, 50256\]") as excinfo:
        small_model(ids)
    assert str(bad_id) in str(excinfo.value)


def test_empty_input_is_rejected(small_model):
    with pytest.raises(ValueError, match="no tokens"):
        small_model(torch.zeros(1, 0, dtype=torch.long))


def test_model_keeps_its_own_copy_of_the_config(small_cfg):
    model = GPTModel(small_cfg)
    small_cfg["emb_dim"] = 64
    assert model.cfg["emb_dim"] == 32
