"""`gptedu train` with its defaults reproduces the seed's run, number for number.

The book (and the seed) publish the lines their 10-epoch run prints. The first two
epochs are the same computation whether the run lasts 2 or 10 epochs (the seed's loop has
no schedule that depends on the length), so this test runs 2 epochs of the real 124M model
and checks the first 4 loss lines and the 2 samples exactly, plus the baseline losses.
Notebook 04 runs all 10 epochs.
"""

import re

import pytest

from gptedu.cli import main

pytestmark = pytest.mark.all_threads  # the real 124M model: use every core

# The book's published lines for the seed's run (chapter 5), first two epochs, as the book's own
# code (tests/seed_reference.py) prints them on this project's CPU.
BOOK_LINES_FIRST_TWO_EPOCHS = [
    'Ep 1 (Step 000000): Train loss 9.781, Val loss 9.933',
    'Ep 1 (Step 000005): Train loss 8.111, Val loss 8.339',
    'Every effort moves you,,,,,,,,,,,,.',
    'Ep 2 (Step 000010): Train loss 6.661, Val loss 7.048',
    'Ep 2 (Step 000015): Train loss 5.961, Val loss 6.616',
    'Every effort moves you, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and, and,, and, and,',
]


def test_gptedu_train_defaults_print_the_books_first_two_epochs(tmp_path, capsys):
    exit_code = main(["train", "--epochs", "2", "--no-progress", "--out-dir", str(tmp_path)])
    assert exit_code == 0
    printed = capsys.readouterr().out.splitlines()

    assert "Characters: 20479" in printed
    assert "Tokens: 5145" in printed
    assert "Training tokens: 4608" in printed
    assert "Validation tokens: 512" in printed
    baseline = {line.split(":")[0]: float(line.split(":")[1]) for line in printed if line.startswith(("Training loss:", "Validation loss:"))}
    assert baseline["Training loss"] == pytest.approx(10.98758347829183, abs=1e-5)
    assert baseline["Validation loss"] == pytest.approx(10.98110580444336, abs=1e-5)

    run_lines = [line.rstrip() for line in printed if line.startswith(("Ep ", "Every effort"))]
    assert run_lines == BOOK_LINES_FIRST_TWO_EPOCHS
    assert any(re.match(r"Training completed in \d+\.\d\d minutes \(\d+\.\d tokens/s", line) for line in printed)
    for name in ("model.pth", "config.json", "history.json", "training.png"):
        assert (tmp_path / name).stat().st_size > 0
