"""The key/value cache (gptedu.model.KVCache): the same tokens as the seed's full recomputation.

Greedy decoding must give exactly the same tokens with ``use_cache=True`` (the default) and
``use_cache=False`` (the seed's loop), in fp32 on CPU, for prompts shorter and longer than
the context window and for generations that slide past it.
"""

import pytest
import seed_reference as seed
import torch

from gptedu import GPTModel, generate_text, generate_text_simple
from gptedu.model import KVCache, SplitLinear, one_token_linear


def random_prompt(batch, length, seed_value=0):
    return torch.randint(0, 50257, (batch, length), generator=torch.Generator().manual_seed(seed_value))


@pytest.mark.parametrize("prompt_length", [1, 5, 31, 32, 40])
def test_greedy_with_the_cache_equals_full_recomputation(small_model, prompt_length):
    prompt = random_prompt(1, prompt_length)
    cached = generate_text(small_model, prompt, 50, 32, use_cache=True)  # 50 tokens: slides past context 32
    assert torch.equal(cached, generate_text(small_model, prompt, 50, 32, use_cache=False))
    assert torch.equal(cached, generate_text_simple(small_model, prompt, 50, 32))


def test_greedy_with_the_cache_equals_the_seeds_generate_text(small_model):
    prompt = random_prompt(2, 6, 1)
    ours = generate_text(small_model, prompt, 40, 32)
    for row in range(2):  # the seed's top-k/eos code handles one sequence at a time
        assert torch.equal(ours[row:row + 1], seed.generate_text(small_model, prompt[row:row + 1], 40, 32))


def test_a_context_size_below_the_models_context_length_slides_the_same_way(small_model):
    prompt = random_prompt(1, 4)
    assert torch.equal(generate_text(small_model, prompt, 30, 10), generate_text(small_model, prompt, 30, 10, use_cache=False))


def test_sampling_with_the_cache_draws_the_same_tokens(small_model):
    prompt = random_prompt(3, 4, 2)
    kwargs = dict(temperature=1.0, top_k=50, top_p=0.95)
    cached = generate_text(small_model, prompt, 40, 32, generator=torch.Generator().manual_seed(0), **kwargs)
    full = generate_text(small_model, prompt, 40, 32, use_cache=False, generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.equal(cached, full)


@pytest.mark.parametrize("batch", [1, 2])
def test_cached_logits_match_the_full_forward_pass(small_model, batch):
    tokens = random_prompt(batch, 20)
    with torch.no_grad():
        full = small_model(tokens)
        cache = small_model.new_kv_cache()
        parts = [small_model(tokens[:, :8], cache), small_model(tokens[:, 8:9], cache), small_model(tokens[:, 9:10], cache),
                 small_model(tokens[:, 10:], cache)]
    assert len(cache) == 20
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("sizes", [(32, 128, True), (128, 32, True), (32, 33, False), (32, 1, True)])  # (in, out, bias)
def test_one_token_products_equal_the_layers(rows, sizes):
    n_in, n_out, bias = sizes  # 33 outputs: two halves of 17 rows that share one; 1 output: both halves are that row
    layer = torch.nn.Linear(n_in, n_out, bias=bias)
    x = torch.randn(rows, 1, n_in)
    store = {}
    with torch.no_grad():  # generation: the fast product
        torch.testing.assert_close(one_token_linear(layer, x, store), layer(x), rtol=1e-6, atol=1e-6)
    assert isinstance(store[layer], SplitLinear)
    assert store[layer].halves_t.data_ptr() == layer.weight.data_ptr()  # views of the weight: nothing copied
    torch.testing.assert_close(one_token_linear(layer, x, store), layer(x), rtol=0, atol=1e-6)  # with autograd on


def test_a_replaced_or_strided_weight_is_not_read_through_old_views():
    layer, x, store = torch.nn.Linear(8, 6), torch.randn(1, 1, 8), {}
    with torch.no_grad():
        one_token_linear(layer, x, store)
        layer.weight = torch.nn.Parameter(torch.randn(6, 8))  # replaced, not changed in place
        torch.testing.assert_close(one_token_linear(layer, x, store), layer(x), rtol=1e-6, atol=1e-6)
        layer.weight.mul_(2)  # changed in place: the views see it
        torch.testing.assert_close(one_token_linear(layer, x, store), layer(x), rtol=1e-6, atol=1e-6)
        layer.weight = torch.nn.Parameter(torch.randn(8, 6).t())  # not contiguous: the plain layer
        torch.testing.assert_close(one_token_linear(layer, x, store), layer(x), rtol=1e-6, atol=1e-6)


def test_the_cache_writes_in_place_and_grows_by_doubling():
    cache = KVCache(1).layers[0]
    keys = torch.randn(2, 3, 5, 4)
    cache.update(keys, -keys)
    assert cache.key_buffer.shape == (2, 3, 64, 4) and len(cache) == 5  # room for 64 tokens
    buffer = cache.key_buffer
    for step in range(59):  # up to 64 tokens: written into the same buffer
        new = torch.full((2, 3, 1, 4), float(step))
        all_keys, all_values = cache.update(new, -new)
        assert cache.key_buffer is buffer and torch.equal(all_keys[:, :, -1:], new) and torch.equal(all_values[:, :, -1:], -new)
    assert torch.equal(cache.keys[:, :, :5], keys) and torch.equal(cache.values[:, :, :5], -keys)
    cache.update(torch.zeros(2, 3, 1, 4), torch.zeros(2, 3, 1, 4))  # the 65th: a buffer twice as long, same contents
    assert cache.key_buffer.shape[2] == 130 and len(cache) == 65 and torch.equal(cache.keys[:, :, :5], keys)
    cache.reorder(torch.tensor([1, 1]))  # beam search: both rows now follow row 1
    assert len(cache) == 65 and torch.equal(cache.keys[0], cache.keys[1]) and torch.equal(cache.keys[0, :, :5], keys[1])


def test_a_cache_holds_one_layer_per_block_with_head_shapes(small_model):
    cache = small_model.new_kv_cache()
    assert isinstance(cache, KVCache) and len(cache.layers) == 2 and len(cache) == 0
    with torch.no_grad():
        small_model(random_prompt(3, 7), cache)
    assert cache.layers[0].keys.shape == (3, 2, 7, 16)  # (B, n_heads, T, head_dim)


def test_a_full_cache_refuses_more_tokens_with_a_clear_message(small_model):
    cache = small_model.new_kv_cache()
    with torch.no_grad():
        small_model(random_prompt(1, 30), cache)
        with pytest.raises(ValueError, match="KV cache holds 30 tokens; 3 more exceed the model's context_length 32"):
            small_model(random_prompt(1, 3), cache)


def test_forward_without_a_cache_is_unchanged_in_training_mode(small_cfg):
    # The training path (dropout on the attention weights) is the seed's: same random numbers, same output.
    torch.manual_seed(123)
    ours = GPTModel(small_cfg).train()
    torch.manual_seed(123)
    reference = seed.GPTModel(small_cfg).train()
    tokens = random_prompt(2, 16)
    torch.manual_seed(0)
    out = ours(tokens)
    torch.manual_seed(0)
    assert torch.equal(out, reference(tokens))


def test_generation_in_training_mode_falls_back_to_recomputation(small_model):
    small_model.train()
    torch.manual_seed(0)
    out = generate_text(small_model, random_prompt(1, 4), 5, 32, temperature=1.0)
    torch.manual_seed(0)
    assert torch.equal(out, seed.generate_text(small_model, random_prompt(1, 4), 5, 32, temperature=1.0))
    assert small_model.training
