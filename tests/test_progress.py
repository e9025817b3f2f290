"""gptedu.progress: the training loops' bar keeps its final state in a saved notebook, and lines print below it."""

import IPython.display
import pytest

from gptedu import progress


class FakeHandle:
    """What ``display(..., display_id=True)`` returns: a display that ``update`` replaces in place."""

    def __init__(self, shown):
        self.history = [shown["text/plain"]]

    def update(self, shown, raw=False):
        assert raw
        self.history.append(shown["text/plain"])


@pytest.fixture
def notebook(monkeypatch):
    """Pretend to run in a Jupyter kernel; collect the displays the bar makes."""
    handles = []

    def display(shown, raw=False, display_id=False):
        assert raw and display_id
        handles.append(FakeHandle(shown))
        return handles[-1]

    monkeypatch.setattr(progress, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    return handles


def test_in_a_notebook_the_bar_is_one_display_that_ends_in_its_final_state(notebook, capsys):
    bar = progress.ProgressBar(4, unit="step")
    for _ in range(4):
        bar.update(loss="1.234")
    bar.close()
    assert len(notebook) == 1  # one display, updated in place: a saved notebook keeps its last text
    final = notebook[0].history[-1]
    assert final.startswith("Training: 100%") and "4/4" in final and "loss=1.234" in final
    assert "\r" not in final
    assert capsys.readouterr().err == ""  # nothing on stderr: no second, terminal bar


def test_in_a_notebook_printed_lines_are_ordinary_output(notebook, capsys):
    bar = progress.ProgressBar(2)
    progress.print_line("Ep 1 (Step 000000): Train loss 9.781, Val loss 9.933")
    bar.update()
    bar.close()
    assert capsys.readouterr().out == "Ep 1 (Step 000000): Train loss 9.781, Val loss 9.933\n"
    assert all(text.strip() for text in notebook[0].history)  # tqdm's clearing spaces never replace the bar


def test_in_a_terminal_the_bar_goes_to_stderr_and_the_lines_to_stdout(capsys):
    bar = progress.ProgressBar(3, desc="Training")
    progress.print_line("a line")
    for _ in range(3):
        bar.update()
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "a line\n"
    assert "Training: 100%" in captured.err and "3/3" in captured.err


def test_a_disabled_bar_shows_nothing(notebook, capsys):
    bar = progress.ProgressBar(3, enabled=False)
    bar.update()
    bar.close()
    assert notebook == [] and capsys.readouterr().err == ""


def test_under_torchrun_only_the_main_process_draws_a_bar(monkeypatch, capsys):
    from torch.utils.data import DataLoader

    from gptedu import GPTModel, resume
    from gptedu.training import TrainingHistory

    cfg = {"vocab_size": 50257, "context_length": 8, "emb_dim": 8, "n_heads": 1, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    model = GPTModel(cfg)
    optimizer = __import__("torch").optim.AdamW(model.parameters())
    loader = DataLoader([0, 1, 2], batch_size=1)
    history = TrainingHistory([], [], [], [])
    monkeypatch.setattr(resume, "is_main_process", lambda: False)  # rank 1 of 2
    run = resume.TrainingRun(model, optimizer, loader, history, num_epochs=1, progress=True)
    assert run.bar.bar.disable
    monkeypatch.setattr(resume, "is_main_process", lambda: True)  # rank 0
    run = resume.TrainingRun(model, optimizer, loader, history, num_epochs=1, progress=True)
    assert not run.bar.bar.disable
    run.bar.close()
    capsys.readouterr()
