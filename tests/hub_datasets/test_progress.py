"""`hub_datasets.progress.progress_bar`: a live bar on a terminal, a line every few percent in a log."""

from __future__ import annotations

import io

from tqdm.auto import tqdm

from hub_datasets.progress import LOG_EVERY_PERCENT, LogLines, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_every_few_percent_and_no_carriage_returns():
    log = io.StringIO()
    bar = progress_bar(total=1000, desc="train", file=log)
    assert isinstance(bar, LogLines)
    for step in range(1000):
        bar.set_postfix(loss=f"{step:.1f}", refresh=False)
        bar.update(1)
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and len(lines) == 100 // LOG_EVERY_PERCENT
    assert lines[0].startswith("train:   5%") and " 50/1000 " in lines[0] and lines[0].endswith("loss=49.0]")
    assert " 1000/1000 " in lines[-1] and lines[-1].endswith("loss=999.0]")


def test_a_resumed_or_unfinished_bar_prints_its_progress_and_a_last_line_on_close():
    log = io.StringIO()
    with progress_bar(total=100, initial=40, desc="train", file=log) as bar:
        for _ in range(13):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert [line.split("|")[0] for line in lines] == ["train:  45%", "train:  50%", "train:  53%"]  # 53: on close


def test_iterating_small_totals_and_unknown_totals():
    log = io.StringIO()
    assert list(progress_bar(range(3), desc="x", file=log)) == [0, 1, 2]
    assert len(log.getvalue().splitlines()) == 3  # fewer items than lines: one line each, never more
    log = io.StringIO()
    assert list(progress_bar(iter(range(5)), desc="y", file=log)) == list(range(5))
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[0]] and "5" in log.getvalue()  # on close


def test_a_terminal_gets_the_live_bar_and_disabled_bars_print_nothing():
    assert isinstance(progress_bar(total=10, file=_Terminal()), tqdm)
    quiet = io.StringIO()
    for disable in (True, None):  # None: tqdm's "on a terminal only"
        bar = progress_bar(total=10, file=quiet, disable=disable)
        bar.update(10)
        bar.close()
    assert quiet.getvalue() == ""
