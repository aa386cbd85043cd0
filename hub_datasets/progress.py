"""Progress bars that suit where the output goes (dataset building, training, evaluation).

On a terminal (or in a notebook) `progress_bar` is a live tqdm bar. Anywhere else - a log file, CI -
every frame of a live bar would be kept (a carriage return per update: megabytes per run), so it
prints one plain line every `LOG_EVERY_PERCENT` percent instead, and a last one when it closes.
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

LOG_EVERY_PERCENT = 5


def progress_bar(iterable=None, *, total: int | None = None, desc: str = "", disable: bool = False,
                 initial: int = 0, unit: str = "it", file=None, **tqdm_kwargs):
    """A tqdm bar on a terminal or in a notebook, else a `LogLines` printing a line every few percent.

    ``disable=None`` (tqdm's "only on a terminal") hides it in a log; ``tqdm_kwargs`` reach the live bar only.
    """
    file = file if file is not None else sys.stderr
    interactive = _is_terminal(file) or "ipykernel" in sys.modules
    if disable is None:
        disable = not interactive
    if disable or interactive:
        return tqdm(iterable, total=total, desc=desc, disable=disable, initial=initial, unit=unit, file=file,
                    dynamic_ncols=True, **tqdm_kwargs)
    return LogLines(iterable, total=total, desc=desc, initial=initial, unit=unit, file=file)


def quiet_library_bars(file=None) -> None:
    """When the output goes to a log, turn off the Hugging Face libraries' own bars too (``datasets`` map and
    save, ``transformers`` shard writing, ``huggingface_hub`` transfers): they draw a frame per update."""
    file = file if file is not None else sys.stderr
    if _is_terminal(file) or "ipykernel" in sys.modules:
        return
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging

    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def _is_terminal(file) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LogLines:
    """The part of tqdm's interface the package uses (`update`, `set_postfix`, `close`, iteration, ``with``),
    printing a complete line (tqdm's own format) each time the count crosses another `LOG_EVERY_PERCENT`
    percent of ``total``; without a total, a line every ``interval`` seconds."""

    def __init__(self, iterable=None, *, total=None, desc="", initial=0, unit="it", file=None, interval=60.0):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self._initial = self._printed = initial
        self.file = file if file is not None else sys.stderr
        self.postfix = None
        self.interval = interval
        self._started = self._last_time = time.monotonic()
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total:
            step = max(1, self.total * LOG_EVERY_PERCENT // 100)
            due = self.n // step > self._printed // step or self.n >= self.total > self._printed
        else:
            due = time.monotonic() - self._last_time >= self.interval
        if due:
            self._print()

    def close(self) -> None:
        if not self._closed and self.n != self._printed:
            self._print()
        self._closed = True

    def _print(self) -> None:
        now = time.monotonic()
        line = tqdm.format_meter(self.n, self.total, now - self._started, prefix=self.desc, unit=self.unit,
                                 postfix=self.postfix, initial=self._initial, ascii=True)
        print(line, file=self.file, flush=True)
        self._printed, self._last_time = self.n, now
