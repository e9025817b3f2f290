"""gptedu.plots: every figure has a title, labelled axes and the data it claims to show."""

import math

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from gptedu import TrainingHistory, plot_learning_rate, plot_losses, plot_perplexity, plot_training_summary
from gptedu.plots import plot_loss_chain

EPOCHS = [0.0, 0.5, 1.0, 1.5]
TOKENS = [512, 2560, 4608, 6656]
TRAIN = [9.781, 7.2, 6.1, 5.0]
VAL = [9.933, 7.8, 6.9, 6.6]


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_plot_losses_returns_a_figure_with_title_and_labelled_axes():
    fig = plot_losses(EPOCHS, TOKENS, TRAIN, VAL)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "Loss during training"
    assert ax.get_xlabel() == "Epochs"
    assert ax.get_ylabel() == "Loss (cross-entropy, nats)"


def test_plot_losses_draws_training_and_validation_loss_against_epochs():
    lines = lines_by_label(plot_losses(EPOCHS, TOKENS, TRAIN, VAL).axes[0])
    assert list(lines["Training loss"].get_xdata()) == EPOCHS
    assert list(lines["Training loss"].get_ydata()) == TRAIN
    assert list(lines["Validation loss"].get_ydata()) == VAL


def test_plot_losses_has_a_second_x_axis_of_tokens_seen():
    fig = plot_losses(EPOCHS, TOKENS, TRAIN, VAL)
    assert len(fig.axes) == 2  # the seed's twiny axis
    tokens_axis = fig.axes[1]
    assert tokens_axis.get_xlabel() == "Tokens seen"
    assert list(tokens_axis.get_lines()[0].get_xdata()) == TOKENS


@pytest.mark.parametrize("short", ["epochs", "tokens", "train", "val"])
def test_plot_losses_rejects_lists_of_different_lengths(short):
    data = {"epochs": EPOCHS, "tokens": TOKENS, "train": TRAIN, "val": VAL}
    data[short] = data[short][:-1]
    with pytest.raises(ValueError, match="must have the same length"):
        plot_losses(data["epochs"], data["tokens"], data["train"], data["val"])


def test_plot_perplexity_returns_a_figure_with_title_and_labelled_axes():
    fig = plot_perplexity(TOKENS, TRAIN, VAL)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "Perplexity during training"
    assert ax.get_xlabel() == "Tokens seen"
    assert ax.get_ylabel() == "Perplexity (log scale)"
    assert ax.get_yscale() == "log"


def test_plot_perplexity_draws_exp_of_the_losses():
    lines = lines_by_label(plot_perplexity(TOKENS, TRAIN, VAL).axes[0])
    assert list(lines["Training perplexity"].get_xdata()) == TOKENS
    assert list(lines["Training perplexity"].get_ydata()) == pytest.approx([math.exp(loss) for loss in TRAIN])
    assert list(lines["Validation perplexity"].get_ydata()) == pytest.approx([math.exp(loss) for loss in VAL])


def test_plot_learning_rate_returns_a_figure_with_title_and_labelled_axes():
    fig = plot_learning_rate([3e-5, 2e-4, 4e-4, 2e-4, 1e-6])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "Learning-rate schedule"
    assert ax.get_xlabel() == "Training step"
    assert ax.get_ylabel() == "Learning rate"


def test_plot_learning_rate_draws_one_point_per_step():
    lrs = [3e-5, 2e-4, 4e-4, 2e-4, 1e-6]
    line = plot_learning_rate(lrs).axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3, 4]
    assert list(line.get_ydata()) == lrs


def test_plots_draw_on_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_losses(EPOCHS, TOKENS, TRAIN, VAL, ax=left) is fig
    assert plot_learning_rate([1e-4, 2e-4], ax=right) is fig
    assert right.get_title() == "Learning-rate schedule"


def test_plot_training_summary_shows_loss_and_perplexity_side_by_side():
    fig = plot_training_summary(2, (TRAIN, VAL, TOKENS))
    titles = [ax.get_title() for ax in fig.axes]
    assert "Loss during training" in titles
    assert "Perplexity during training" in titles


def test_plot_training_summary_spreads_evaluations_over_the_epochs():
    fig = plot_training_summary(3, (TRAIN, VAL, TOKENS))
    loss_axis = next(ax for ax in fig.axes if ax.get_title() == "Loss during training")
    assert list(lines_by_label(loss_axis)["Training loss"].get_xdata()) == pytest.approx([0, 1, 2, 3])


def test_plot_training_summary_accepts_a_training_history(tmp_path):
    history = TrainingHistory(TRAIN, VAL, TOKENS, [1e-4] * 8)
    assert isinstance(plot_training_summary(2, history), Figure)


def test_plot_training_summary_saves_a_png(tmp_path):
    path = tmp_path / "training.png"
    plot_training_summary(2, (TRAIN, VAL, TOKENS)).savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_training_summary_of_a_single_evaluation():
    fig = plot_training_summary(1, ([10.9], [10.95], [64]))  # one evaluation: no division by zero
    assert isinstance(fig, Figure)


def test_plot_loss_chain_draws_probabilities_their_negative_logs_and_the_mean():
    probas = [7.4541e-05, 3.1061e-05, 1.1563e-05]
    fig = plot_loss_chain(probas, ["a", "b", "c"])
    left, right = fig.axes
    assert left.get_title().startswith("1.") and right.get_title().startswith("2.")
    assert left.get_ylabel() and right.get_ylabel() and left.get_xlabel() and right.get_xlabel()
    assert [bar.get_height() for bar in left.patches] == pytest.approx(probas)
    assert [bar.get_height() for bar in right.patches] == pytest.approx([-math.log(p) for p in probas])
    mean_line = right.get_lines()[0]
    assert mean_line.get_ydata()[0] == pytest.approx(sum(-math.log(p) for p in probas) / 3)
    assert "loss = " in mean_line.get_label()
    assert left.get_lines()[0].get_ydata()[0] == pytest.approx(1 / 50257)
    plt.close(fig)


@pytest.mark.parametrize("probas, labels", [([], []), ([0.5], ["a", "b"]), ([0.0], ["a"]), ([1.5], ["a"])])
def test_plot_loss_chain_rejects_what_is_not_one_probability_per_label(probas, labels):
    with pytest.raises(ValueError, match="target_probas"):
        plot_loss_chain(probas, labels)


class _Letters:
    """A stand-in tokenizer: token i is the i-th letter."""

    def decode(self, ids):
        return "".join(chr(ord("a") + i) for i in ids)


def test_plot_top_k_top_p_marks_what_each_filter_keeps():
    import torch  # noqa: PLC0415
    from matplotlib.colors import to_rgba  # noqa: PLC0415

    from gptedu import plot_top_k_top_p

    probs = torch.tensor([0.04, 0.5, 0.1, 0.3, 0.06])  # most likely first: b 0.5, d 0.3, c 0.1, e 0.06, a 0.04
    fig = plot_top_k_top_p(probs.log(), _Letters(), top_k=2, top_p=0.85, num_tokens=4)
    left, right = fig.axes
    assert fig.get_suptitle() and all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() for ax in fig.axes)
    assert [t.get_text() for t in left.get_xticklabels()] == ["'b'", "'d'", "'c'", "'e'"]
    assert [bar.get_height() for bar in left.patches] == pytest.approx([0.5, 0.3, 0.1, 0.06])
    cut = to_rgba("lightgray")
    assert [bar.get_facecolor() == cut for bar in left.patches] == [False, False, True, True]  # top_k=2
    cumulative, threshold, k_line = right.get_lines()
    assert list(cumulative.get_xdata()) == [1, 2, 3, 4, 5]
    assert list(cumulative.get_ydata()) == pytest.approx([0.5, 0.8, 0.9, 0.96, 1.0])
    assert threshold.get_ydata()[0] == pytest.approx(0.85) and k_line.get_xdata()[0] == 2
    # top_p=0.85: 0.5 + 0.3 = 0.8 is not enough, 0.5 + 0.3 + 0.1 = 0.9 is: three tokens shaded
    assert [text.get_text() for text in right.texts] == ["shaded: the 3 tokens\nkept by top_p=0.85"]
    legend = left.get_legend()
    assert [patch.get_facecolor() == cut for patch in legend.get_patches()] == [False, True]
    plt.close(fig)


def test_plot_top_k_top_p_rejects_a_batch_of_logits():
    import torch  # noqa: PLC0415

    from gptedu import plot_top_k_top_p

    with pytest.raises(ValueError, match="one position"):
        plot_top_k_top_p(torch.zeros(2, 5), _Letters(), top_k=2, top_p=0.9)
