"""gptedu.config: the seed's GPT_CONFIG_124M, OpenAI's four GPT-2 sizes and validate_config's errors."""

import pytest

from gptedu import GPT2_PRESETS, GPT_CONFIG_124M, ConfigError, GPTModel, gpt2_config, validate_config

# The seed's config, copied from the book (context shortened from 1024 to 256).
SEED_CONFIG = {"vocab_size": 50257, "context_length": 256, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
               "drop_rate": 0.1, "qkv_bias": False}


def test_gpt_config_124m_is_the_seeds():
    assert GPT_CONFIG_124M == SEED_CONFIG


def test_gpt_config_124m_is_valid():
    validate_config(GPT_CONFIG_124M)


@pytest.mark.parametrize("name", sorted(GPT2_PRESETS))
def test_every_gpt2_preset_is_valid(name):
    validate_config(GPT2_PRESETS[name])


@pytest.mark.parametrize("key", sorted(SEED_CONFIG))
def test_missing_key_is_named(key):
    cfg = {k: v for k, v in SEED_CONFIG.items() if k != key}
    with pytest.raises(ConfigError, match=repr(key)) as excinfo:
        validate_config(cfg)
    assert "GPT_CONFIG_124M" in str(excinfo.value)  # says how to build a complete config


def test_emb_dim_not_divisible_by_n_heads_names_both_and_suggests_a_fix():
    with pytest.raises(ConfigError) as excinfo:
        validate_config({**SEED_CONFIG, "emb_dim": 768, "n_heads": 11})
    message = str(excinfo.value)
    assert "emb_dim (768)" in message
    assert "n_heads (11)" in message
    assert "n_heads=12" in message  # the divisor of 768 nearest to 11


@pytest.mark.parametrize("key", ["vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"])
@pytest.mark.parametrize("value", [0, -1])
def test_sizes_must_be_positive(key, value):
    with pytest.raises(ConfigError, match=rf"cfg\['{key}'\] must be an integer >= 1; got {value}"):
        validate_config({**SEED_CONFIG, key: value})


@pytest.mark.parametrize("value", [768.0, "768", None, True])
def test_sizes_must_be_integers(value):
    with pytest.raises(ConfigError, match="emb_dim"):
        validate_config({**SEED_CONFIG, "emb_dim": value})


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.1", None, True])
def test_drop_rate_must_be_a_probability_below_1(rate):
    with pytest.raises(ConfigError, match="drop_rate must be a number in \\[0, 1\\)"):
        validate_config({**SEED_CONFIG, "drop_rate": rate})


@pytest.mark.parametrize("rate", [0, 0.0, 0.5, 0.999])
def test_drop_rate_accepts_probabilities_below_1(rate):
    validate_config({**SEED_CONFIG, "drop_rate": rate})


@pytest.mark.parametrize("value", [1, 0, "False", None])
def test_qkv_bias_must_be_a_bool(value):
    with pytest.raises(ConfigError, match="qkv_bias must be True or False"):
        validate_config({**SEED_CONFIG, "qkv_bias": value})


def test_config_must_be_a_dict():
    with pytest.raises(ConfigError, match="must be a dict"):
        validate_config([("emb_dim", 768)])


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_gpt_model_validates_its_config():
    with pytest.raises(ConfigError, match="n_heads"):
        GPTModel({**SEED_CONFIG, "emb_dim": 30, "n_heads": 4})


# --- gpt2_config ------------------------------------------------------------------------------

# OpenAI's published sizes: width, depth, heads; all with context 1024 and qkv bias.
GPT2_SIZES = {
    "gpt2-small (124M)": (768, 12, 12),
    "gpt2-medium (355M)": (1024, 24, 16),
    "gpt2-large (774M)": (1280, 36, 20),
    "gpt2-xl (1558M)": (1600, 48, 25),
}


@pytest.mark.parametrize(
    ("name", "book_name"),
    [
        ("gpt2-small (124M)", "gpt2-small (124M)"),
        ("gpt2-medium (355M)", "gpt2-medium (355M)"),
        ("gpt2-large (774M)", "gpt2-large (774M)"),
        ("gpt2-xl (1558M)", "gpt2-xl (1558M)"),
        ("124M", "gpt2-small (124M)"),
        ("355M", "gpt2-medium (355M)"),
        ("774M", "gpt2-large (774M)"),
        ("1558M", "gpt2-xl (1558M)"),
        ("gpt2", "gpt2-small (124M)"),
        ("gpt2-medium", "gpt2-medium (355M)"),
        ("gpt2-large", "gpt2-large (774M)"),
        ("gpt2-xl", "gpt2-xl (1558M)"),
        ("openai-community/gpt2", "gpt2-small (124M)"),
        ("openai-community/gpt2-xl", "gpt2-xl (1558M)"),
    ],
)
def test_gpt2_config_accepts_book_short_and_hugging_face_names(name, book_name):
    emb_dim, n_layers, n_heads = GPT2_SIZES[book_name]
    assert gpt2_config(name) == {"vocab_size": 50257, "context_length": 1024, "emb_dim": emb_dim, "n_layers": n_layers,
                                 "n_heads": n_heads, "drop_rate": 0.0, "qkv_bias": True}


def test_gpt2_config_returns_a_copy():
    cfg = gpt2_config("124M")
    cfg["context_length"] = 256
    assert gpt2_config("124M")["context_length"] == 1024


@pytest.mark.parametrize("name", ["gpt3", "124m", "gpt-2", "GPT2-XL", "openai-community/gpt3", ""])
def test_gpt2_config_unknown_name_lists_the_known_ones(name):
    with pytest.raises(ConfigError) as excinfo:
        gpt2_config(name)
    message = str(excinfo.value)
    assert repr(name) in message
    for known in ("124M", "355M", "774M", "1558M", "gpt2-small (124M)"):
        assert known in message
