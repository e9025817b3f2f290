"""gptedu.figures: the concept figures of notebooks 01 and 03 draw exactly the tokens and windows they are given."""

import matplotlib.pyplot as plt
import pytest

from gptedu.figures import plot_sliding_windows, plot_token_pieces, plot_train_val_split


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_token_pieces_draws_one_box_per_token_with_its_piece_and_id(tokenizer):
    ids = tokenizer.encode("Hello, do you like tea?")
    fig = plot_token_pieces(ids, tokenizer)
    (ax,) = fig.axes
    assert len(ax.patches) == len(ids) == 7
    drawn = texts(ax)
    assert drawn[0::2] == ["Hello", ",", "␣do", "␣you", "␣like", "␣tea", "?"]  # spaces shown as ␣
    assert drawn[1::2] == [str(i) for i in ids]
    assert ax.get_title().startswith("7 tokens") and ax.get_xlabel()
    plt.close(fig)


def test_token_pieces_wraps_long_texts_and_rejects_no_tokens(tokenizer):
    fig = plot_token_pieces(tokenizer.encode("word " * 40), tokenizer, chars_per_line=30)
    heights = {round(p.get_y(), 3) for p in fig.axes[0].patches}
    assert len(heights) > 3  # several lines of boxes
    plt.close(fig)
    with pytest.raises(ValueError, match="token_ids is empty"):
        plot_token_pieces([], tokenizer)


def test_sliding_windows_draws_the_seeds_windows_for_each_stride():
    ids = list(range(100, 120))
    fig = plot_sliding_windows(ids, max_length=4, strides=(1, 4), num_windows=4)
    left, right = fig.axes
    assert left.get_title() == "max_length=4, stride=1" and right.get_title() == "max_length=4, stride=4"
    # each window: 4 inputs + the one token its shifted targets reach; rows start at i * stride
    assert texts(left)[:5] == ["100", "101", "102", "103", "104"] and texts(left)[5:10] == ["101", "102", "103", "104", "105"]
    assert texts(right)[5:10] == ["104", "105", "106", "107", "108"]
    assert len(right.patches) == 4 * 5
    assert left.get_xlabel() == right.get_xlabel() == "Position in the text (token index)"
    assert left.get_xlim() == right.get_xlim()
    plt.close(fig)


def test_sliding_windows_stops_where_the_seed_does():
    fig = plot_sliding_windows(list(range(8)), max_length=4, strides=(4,), num_windows=10)
    assert len(fig.axes[0].patches) == 5  # 8 tokens give 1 window: range(0, 8 - 4, 4)
    plt.close(fig)
    with pytest.raises(ValueError, match="stride"):
        plot_sliding_windows(list(range(8)), max_length=4, strides=(0,))


def test_train_val_split_draws_the_windows_of_each_part():
    fig = plot_train_val_split(4612, 534, context_length=256, batch_size=2)
    (ax,) = fig.axes
    labels = texts(ax)
    assert labels == ["training: 4,612 tokens, 18 windows of 256", "validation: 534 tokens, 2 windows of 256"]
    assert len(ax.patches) == 2 + 18 + 2  # each part's outline + its windows
    assert ax.get_xlabel() == "Token position in the story" and ax.get_title()
    plt.close(fig)
    fig = plot_train_val_split(4612, 534, context_length=256, batch_size=4)  # 18 windows: 2 dropped by drop_last
    assert "16 windows" in texts(fig.axes[0])[0]
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        plot_train_val_split(0, 534, 256)
