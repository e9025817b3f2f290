"""gptedu.widgets: the sampling explorer's numbers, chart and slider callback (no browser needed)."""

import pytest
import torch

from gptedu import ArgumentTypeError, ConfigError, NotEnoughDataError, text_to_token_ids
from gptedu.sampling import next_token_probs
from gptedu.widgets import SamplingExplorer, next_token_distribution, plot_next_token_distribution

PROMPT = "Every effort moves you"


def test_next_token_distribution_is_the_models_last_position_softmax(small_model, tokenizer):
    dist = next_token_distribution(small_model, PROMPT, tokenizer, temperature=1.0, num_tokens=5)
    with torch.no_grad():
        logits = small_model(text_to_token_ids(PROMPT, tokenizer))[0, -1]
    torch.testing.assert_close(dist.probs, torch.softmax(logits, -1))
    assert dist.top_ids == logits.topk(5).indices.tolist()
    assert dist.top_tokens == [tokenizer.decode([i]) for i in dist.top_ids]


def test_next_token_distribution_applies_top_k_top_p_and_temperature(small_model, tokenizer):
    dist = next_token_distribution(small_model, PROMPT, tokenizer, temperature=0.7, top_k=20, top_p=0.5)
    with torch.no_grad():
        logits = small_model(text_to_token_ids(PROMPT, tokenizer))[0, -1]
    torch.testing.assert_close(dist.probs, next_token_probs(logits, 0.7, 20, 0.5))


def test_the_chart_has_one_bar_per_top_token(small_model, tokenizer):
    dist = next_token_distribution(small_model, PROMPT, tokenizer, num_tokens=7)
    ax = plot_next_token_distribution(dist).axes[0]
    assert [bar.get_height() for bar in ax.patches] == pytest.approx(dist.top_probs)
    assert ax.get_ylabel() == "Probability"


def test_render_with_top_k_1_samples_the_most_likely_token(small_model, tokenizer):
    explorer = SamplingExplorer(small_model, tokenizer, PROMPT)
    fig, sample = explorer.render(temperature=2.0, top_k=1, top_p=1.0)
    dist = next_token_distribution(small_model, PROMPT, tokenizer, top_k=1)
    assert sample == dist.top_tokens[0]
    assert "top_k=1" in fig.axes[0].get_title()


def test_render_with_the_filters_off_and_a_seed_is_reproducible(small_model, tokenizer):
    first = SamplingExplorer(small_model, tokenizer, PROMPT, seed=5).render(1.0, 0, 1.0)[1]
    assert first == SamplingExplorer(small_model, tokenizer, PROMPT, seed=5).render(1.0, 0, 1.0)[1]


def test_the_widget_redraws_when_a_slider_moves(small_model, tokenizer):
    pytest.importorskip("ipywidgets")
    explorer = SamplingExplorer(small_model, tokenizer, PROMPT)
    box = explorer.widget()
    assert set(explorer.sliders) == {"temperature", "top_k", "top_p"}
    assert box.children[-2:] == (explorer.image, explorer.sample)
    first = bytes(explorer.image.value)  # ipywidgets 8 hands the bytes back as a memoryview
    assert first.startswith(b"\x89PNG\r\n\x1a\n")  # the chart is an image inside the widget, not a pyplot display
    seen = []
    explorer.render = lambda **values: seen.append(values) or SamplingExplorer.render(explorer, **values)
    explorer.sliders["top_k"].value = 3
    assert seen == [{"temperature": 1.0, "top_k": 3, "top_p": 1.0}]
    assert bytes(explorer.image.value) != first and explorer.sample.value.startswith(PROMPT + "[")


def test_the_chart_draws_in_a_fresh_interpreter_without_pyplot(tmp_path):
    """A new process in which no figure was ever shown (a fresh kernel): the explorer still makes a PNG."""
    import subprocess
    import sys

    script = (
        "import sys, torch, gptedu\n"
        "from gptedu.widgets import SamplingExplorer, figure_png\n"
        "cfg = {'vocab_size': 50257, 'context_length': 16, 'emb_dim': 16, 'n_heads': 2, 'n_layers': 1, "
        "'drop_rate': 0.0, 'qkv_bias': False}\n"
        "fig, _ = SamplingExplorer(gptedu.GPTModel(cfg), gptedu.get_tokenizer(), 'Every effort').render(1.0, 0, 1.0)\n"
        "png = figure_png(fig)\n"
        "print(png[:8] == b'\\x89PNG\\r\\n\\x1a\\n', len(png) > 5000)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_an_untrained_models_small_probabilities_are_visible(small_model, tokenizer):
    dist = next_token_distribution(small_model, PROMPT, tokenizer, num_tokens=5)
    ax = plot_next_token_distribution(dist).axes[0]
    assert ax.get_ylim()[1] == pytest.approx(max(dist.top_probs) * 1.25)  # the tallest bar fills most of the axis
    assert len(ax.texts) == 5  # each bar labelled with its probability


def test_bad_slider_values_raise_clear_errors(small_model, tokenizer):
    with pytest.raises(ConfigError, match=r"top_p must be a number in \(0, 1\]; got 0.0"):
        next_token_distribution(small_model, PROMPT, tokenizer, top_p=0.0)
    with pytest.raises(NotEnoughDataError, match="prompt is empty"):
        next_token_distribution(small_model, "", tokenizer)
    with pytest.raises(ConfigError, match="top_k must be an integer >= 0; got -1"):
        SamplingExplorer(small_model, tokenizer, PROMPT).render(temperature=1.0, top_k=-1, top_p=1.0)
    with pytest.raises(ArgumentTypeError, match="num_tokens must be an integer; got 2.5"):
        next_token_distribution(small_model, PROMPT, tokenizer, num_tokens=2.5)
