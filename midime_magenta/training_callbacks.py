"""Training progress: a tqdm bar or log lines, and TensorBoard scalars.

Callbacks follow the Keras hooks (`on_train_begin`, `on_epoch_end`,
`on_train_end`) so `MidiMe.train` also accepts Keras callbacks that use them.
"""

import sys

import tensorflow as tf
import tqdm
from absl import logging


class ProgressBar:
  """A tqdm bar in a terminal; a log line every `log_every` epochs elsewhere.

  Logs and notebooks where tqdm's carriage returns would pile up get plain
  lines instead.
  """

  def __init__(self, epochs, log_every=25, stream=None):
    self._epochs = epochs
    self._log_every = log_every
    self._stream = stream or sys.stderr
    self._bar = None

  def on_train_begin(self, logs):
    del logs
    if self._stream.isatty():
      self._bar = tqdm.tqdm(total=self._epochs, desc='Training MidiMe',
                            unit='epoch', file=self._stream, leave=True)

  def on_epoch_end(self, epoch, logs):
    if self._bar is not None:
      self._bar.update(1)
      self._bar.set_postfix(loss=f'{logs["loss"]:.3f}', refresh=False)
    elif (epoch + 1) % self._log_every == 0 or epoch == 0 or (
        epoch + 1 == self._epochs):
      logging.info('epoch %d/%d: loss %.4f (reconstruction %.4f, KL %.4f)',
                   epoch + 1, self._epochs, logs['loss'],
                   logs['reconstruction_loss'], logs['kl_loss'])

  def on_train_end(self, logs):
    if self._bar is not None:
      self._bar.close()
    logging.info('Trained in %.1f s.', logs.get('seconds', 0.0))


class TensorBoardScalars:
  """Writes total, reconstruction and KL loss per epoch to `logdir`."""

  def __init__(self, logdir):
    self._writer = tf.summary.create_file_writer(logdir)

  def on_epoch_end(self, epoch, logs):
    with self._writer.as_default():
      tf.summary.scalar('loss/total', logs['loss'], step=epoch + 1)
      tf.summary.scalar('loss/reconstruction', logs['reconstruction_loss'],
                        step=epoch + 1)
      tf.summary.scalar('loss/kl', logs['kl_loss'], step=epoch + 1)

  def on_train_end(self, logs):
    with self._writer.as_default():
      tf.summary.scalar('train_seconds', logs.get('seconds', 0.0), step=0)
    self._writer.flush()
    self._writer.close()
