"""Progress: tqdm's bar in a terminal or notebook, else log lines."""

import os
import sys
import time

from absl import logging


def in_notebook():
  """True inside a Jupyter or Colab kernel."""
  shell = sys.modules.get('IPython')
  ipython = getattr(shell, 'get_ipython', lambda: None)()
  return 'IPKernelApp' in getattr(ipython, 'config', {})


class _LogLines:
  """tqdm's `update`, `set_postfix_str` and `close`, logging each tenth."""

  def __init__(self, total, desc, unit):
    self.total, self.desc, self.unit = total, desc, unit
    self.n = self._next = 0
    self._postfix = ''
    self._started = time.perf_counter()

  def update(self, n=1):
    self.n += n
    if self.n >= self._next or (self.total and self.n >= self.total):
      of_total = f' of {self.total}' if self.total else ''
      logging.info('%s: %d%s %s%s (%.1f s).', self.desc, self.n, of_total,
                   self.unit, self._postfix,
                   time.perf_counter() - self._started)
      self._next = self.n + max(1, (self.total or 10 * max(self.n, 1)) // 10)

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
  """A tqdm bar for `total` units (None: unknown), or log lines off a terminal."""
  stream = stream or sys.stderr
  if not (getattr(stream, 'isatty', bool)() or in_notebook()):
    return _LogLines(total, desc, unit)
  from tqdm import auto  # pylint: disable=g-import-not-at-top
  # tqdm hides the bar on a 0 x 0 pseudo-terminal: give it a size.
  try:
    columns, rows = os.get_terminal_size(stream.fileno())
  except (AttributeError, OSError, ValueError):
    columns, rows = 0, 0
  return auto.tqdm(total=total, desc=desc, unit=unit, file=stream, leave=True,
                   unit_scale=unit_scale, ncols=columns or 100,
                   nrows=rows or 24)


class TrainingProgress:
  """A training callback that shows epochs with the loss."""

  def __init__(self, epochs, stream=None):
    self._epochs = epochs
    self._stream = stream

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
    self._bar.close()
    logging.info('Trained in %.1f s.', logs.get('seconds', 0.0))
