"""Progress that people see: a tqdm bar in a terminal or notebook, and elsewhere
(a log file, CI, a pipe) a log line at the start, each tenth and the end.
"""

import os
import sys
import time

from absl import logging

_LOG_FRACTION = 0.1


def in_notebook():
  """True inside a Jupyter or Colab kernel."""
  shell = sys.modules.get('IPython')
  if shell is None:
    return False
  ipython = shell.get_ipython() if hasattr(shell, 'get_ipython') else None
  return ipython is not None and 'IPKernelApp' in getattr(ipython, 'config',
                                                            {})


def shows_bars(stream=None):
  """Whether progress is shown as a bar (terminal or notebook)."""
  stream = stream or sys.stderr
  isatty = getattr(stream, 'isatty', None)
  return bool(isatty and isatty()) or in_notebook()


class _LogLines:
  """A tqdm-like object that logs instead of drawing."""

  def __init__(self, total, desc, unit):
    self.total, self.desc, self.unit = total, desc, unit
    self.n = 0
    self._next = 0
    self._postfix = ''
    self._started = time.perf_counter()

  def update(self, n=1):
    self.n += n
    if self.n >= self._next or (self.total and self.n >= self.total):
      seconds = time.perf_counter() - self._started
      of_total = f' of {self.total}' if self.total else ''
      logging.info('%s: %d%s %s%s (%.1f s).', self.desc, self.n, of_total,
                   self.unit, self._postfix, seconds)
      step = max(1, int((self.total or 10 * max(self.n, 1)) * _LOG_FRACTION))
      self._next = self.n + step

  def set_postfix_str(self, text, refresh=False):
    del refresh
    self._postfix = f', {text}' if text else ''

  def close(self):
    pass

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def progress_bar(total, desc, unit, stream=None, unit_scale=False):
  """A progress bar for `total` units (None: unknown), with tqdm's `update`,
  `set_postfix_str` and `close`; a context manager.
  """
  stream = stream or sys.stderr
  if not shows_bars(stream):
    return _LogLines(total, desc, unit)
  # pylint: disable=g-import-not-at-top
  if in_notebook():
    from tqdm import auto as tqdm_module
  else:
    import tqdm as tqdm_module
  # A terminal of unknown size (a pseudo-terminal that reports 0 x 0, as
  # `script` and some CI runners give) makes tqdm hide the bar: it takes it
  # for a row below the screen. Give it a size of its own then.
  columns, rows = _terminal_size(stream)
  return tqdm_module.tqdm(total=total, desc=desc, unit=unit, file=stream,
                          leave=True, unit_scale=unit_scale,
                          ncols=columns or 100, nrows=rows or 24)


def _terminal_size(stream):
  try:
    return tuple(os.get_terminal_size(stream.fileno()))
  except (AttributeError, OSError, ValueError):
    return 0, 0


class TrainingProgress:
  """A training callback that shows epochs with the loss (see module doc)."""

  def __init__(self, epochs, stream=None):
    self._epochs = epochs
    self._stream = stream
    self._bar = None

  def on_train_begin(self, logs):
    del logs
    self._bar = progress_bar(self._epochs, 'Training MidiMe', 'epochs',
                             stream=self._stream)

  def on_epoch_end(self, epoch, logs):
    del epoch
    self._bar.set_postfix_str(
        f'loss {logs["loss"]:.3f} = {logs["reconstruction_loss"]:.3f} + KL '
        f'{logs["kl_loss"]:.3f}')
    self._bar.update(1)

  def on_train_end(self, logs):
    if self._bar is not None:
      self._bar.close()
    logging.info('Trained in %.1f s.', logs.get('seconds', 0.0))
