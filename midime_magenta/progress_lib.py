"""Progress: tqdm's bar in a terminal or notebook; elsewhere tqdm's lines,
logged about each tenth of the way (unknown totals: each 10 s)."""

import math
import os
import sys

from absl import logging


def in_notebook():
  """True inside a Jupyter or Colab kernel."""
  shell = sys.modules.get('IPython')
  ipython = getattr(shell, 'get_ipython', lambda: None)()
  return 'IPKernelApp' in getattr(ipython, 'config', {})


class _LogFile:
  """What tqdm draws, as absl log lines (a line drawn again once)."""
  _last = ''

  def write(self, text):
    if text.strip() not in ('', self._last):
      self._last = text.strip()
      logging.info('%s', self._last)

  def flush(self):
    pass


def progress_bar(total, desc, unit, unit_scale=False):
  """A tqdm bar for `total` units (None: unknown), logged off a terminal."""
  # pylint: disable=g-import-not-at-top
  import tqdm
  stream = sys.stderr
  if not (getattr(stream, 'isatty', bool)() or in_notebook()):
    return tqdm.tqdm(
        total=total, desc=desc, unit=unit, unit_scale=unit_scale,
        file=_LogFile(), mininterval=0 if total else 10, maxinterval=math.inf,
        position=0,  # Bars at once: no escapes moving between screen lines.
        miniters=max(1, (total or 0) // 10),
        bar_format='{desc}: {n_fmt}' + ' of {total_fmt}' * bool(total) +
        ' {unit}{postfix} ({elapsed})')
  from tqdm import auto  # Imports asyncio: only for a bar drawn.
  # tqdm hides the bar on a 0 x 0 pseudo-terminal: give it a size.
  try:
    columns, rows = os.get_terminal_size(stream.fileno())
  except (AttributeError, OSError, ValueError):
    columns, rows = 0, 0
  return auto.tqdm(total=total, desc=desc, unit=unit, file=stream,
                   unit_scale=unit_scale, ncols=columns or 100,
                   nrows=rows or 24)


class TrainingProgress:
  """A training callback that shows epochs with the loss."""

  def __init__(self, epochs):
    self._epochs = epochs

  def on_train_begin(self, logs):
    del logs
    self._bar = progress_bar(self._epochs, 'Training MidiMe', 'epochs')

  def on_epoch_end(self, epoch, logs):
    self._bar.set_postfix_str(
        f'loss {logs["loss"]:.3f} = {logs["reconstruction_loss"]:.3f} + KL '
        f'{logs["kl_loss"]:.3f}', refresh=False)
    self._bar.update(1)
    if not epoch:  # Shown, so that a log says training runs.
      self._bar.refresh()

  def on_train_end(self, logs):
    self._bar.close()
    logging.info('Trained in %.1f s.', logs.get('seconds', 0.0))
