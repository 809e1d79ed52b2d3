"""How MidiMe trains: full batches (as Magenta.js) in compiled blocks of
epochs, mini-batches above `max_full_batch` chunks, and an exact stop."""

import time
import types

import numpy as np
import tensorflow as tf
from absl import logging

from midime_magenta import errors
from midime_magenta import startup_lib

_SECONDS_PER_CALL = 0.1
_FIRST_BLOCK = 10  # Epochs of the first call, which also traces.
_MAX_BLOCK = 500
_XLA_BLOCK = 20


class TrainingDivergedError(errors.MidiMeError):
  """Training produced a non-finite loss."""


class LatentsError(errors.MidiMeError, ValueError):
  """Latents of the wrong shape, or not finite."""


class Adam:
  """Adam as one fused `ResourceApplyAdam` per weight and step (Keras's runs
  some 20 ops); with `tfjs`, epsilon is added after the bias correction, as
  tfjs's Adam does, else before, as Keras's. A plain object, not weights."""

  def __init__(self, weights, learning_rate, tfjs=True, beta_1=0.9,
               beta_2=0.999, epsilon=1e-7):
    self._weights = list(weights)
    self._tfjs = tfjs
    self._hyper = [tf.constant(x, tf.float32)
                   for x in (learning_rate, beta_1, beta_2, epsilon)]
    self.iterations = tf.Variable(0.0, trainable=False, name='iterations')
    self._slots = [
        (tf.Variable(tf.zeros_like(w), trainable=False, name='m'),
         tf.Variable(tf.zeros_like(w), trainable=False, name='v'))
        for w in self._weights]

  @property
  def variables(self):
    return [self.iterations, *(s for pair in self._slots for s in pair)]

  def apply(self, gradients):
    """One step on the weights given at construction, in their order."""
    step = self.iterations.assign_add(1.0)
    learning_rate, beta_1, beta_2, epsilon = self._hyper
    beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
    if self._tfjs:
      epsilon = epsilon * tf.sqrt(1.0 - beta_2_power)
    for gradient, weight, (m, v) in zip(gradients, self._weights, self._slots):
      tf.raw_ops.ResourceApplyAdam(
          var=weight.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
          beta2_power=beta_2_power, lr=learning_rate, beta1=beta_1,
          beta2=beta_2, epsilon=epsilon, grad=gradient)


class Training:
  """`train` for `midime_model.MidiMe` (its `_train_step`, `_train_epochs`)."""

  def train(self, z, epochs=None, callbacks=(), shuffle_seed=None,
            jit_compile=False, noise=None):
    """Trains on MusicVAE latents z [n, input_size]; returns the loss history.

    Args:
      callbacks: objects with `on_train_begin`, `on_epoch_end`, `on_train_end`,
        or functions `f(epoch, logs)`; `model.stop_training = True` stops.
      noise: float [epochs, n, latent_size] draws to replay (full batches).

    The weights kept are the last epoch's in the history; Ctrl-C returns what
    was trained, with `interrupted` True.

    Returns:
      {'loss', 'reconstruction_loss', 'kl_loss': [per epoch], 'seconds',
      'interrupted', 'device'}.

    Raises:
      LatentsError: latents of the wrong shape, not finite, or none.
      TrainingDivergedError: a loss that is not finite.
    """
    z = self._check_latents(z)
    if not len(z):  # pylint: disable=g-explicit-length-test
      raise LatentsError('There are no chunks to train on.')
    epochs = int(epochs or self.hparams.num_epochs)
    if noise is not None:
      noise = np.asarray(noise, np.float32)
      if (noise.shape != (epochs, len(z), self.hparams.latent_size) or
          len(z) > self.hparams.max_full_batch):
        raise errors.UsageError(
            f'noise must have shape [{epochs}, {len(z)}, '
            f'{self.hparams.latent_size}] and the chunks fit one batch of '
            f'{self.hparams.max_full_batch}, got {list(noise.shape)}.')
    if self._compiled_step is None:
      self._compiled_step = tf.function(self._train_step, reduce_retracing=True,
                                        autograph=False)
    if jit_compile not in self._compiled_epochs:
      self._compiled_epochs[jit_compile] = tf.function(
          self._train_epochs, reduce_retracing=True, jit_compile=jit_compile,
          autograph=False)
    hooks = [c if hasattr(c, 'on_epoch_end') else
             types.SimpleNamespace(on_epoch_end=c) for c in callbacks]
    history = {'loss': [], 'reconstruction_loss': [], 'kl_loss': [],
               'interrupted': False, 'device': startup_lib.device_name()}
    logging.info('Training MidiMe on %s.', history['device'])
    self.stop_training = False
    start = time.perf_counter()
    _call_all(hooks, 'on_train_begin', {})
    try:
      if len(z) <= self.hparams.max_full_batch:
        self._train_full_batch(tf.constant(z), epochs, hooks, history,
                               self._compiled_epochs[jit_compile], noise,
                               fixed_block=_XLA_BLOCK if jit_compile else None)
      else:
        self._train_mini_batches(z, epochs, hooks, history,
                                 np.random.default_rng(shuffle_seed))
    except KeyboardInterrupt:
      history['interrupted'] = True
    history['seconds'] = time.perf_counter() - start
    _call_all(hooks, 'on_train_end', {'seconds': history['seconds']})
    return history

  def _state_variables(self):
    return (list(self.weights) + list(self.optimizer_.variables) +
            [self._noise.state])

  def _train_full_batch(self, z, epochs, hooks, history, compiled_epochs,
                        noise=None, fixed_block=None):
    """Full-batch epochs in compiled blocks; stops at the epoch asked for."""
    if self._snapshot is None:
      self._snapshot = _Snapshot(self._state_variables())
    snapshot = self._snapshot
    done, size = 0, fixed_block or _FIRST_BLOCK
    while done < epochs:
      block = min(size, epochs - done)
      snapshot.take()  # Ctrl-C up to here leaves the state as it was.
      draws = None if noise is None else tf.constant(noise[done:done + block])
      started = time.perf_counter()
      try:
        values = compiled_epochs(z, tf.constant(block), draws).numpy()
      except KeyboardInterrupt:
        snapshot.put_back()  # The block may or may not have run.
        raise
      size = fixed_block or int(np.clip(
          _SECONDS_PER_CALL * block / max(time.perf_counter() - started, 1e-6),
          1, _MAX_BLOCK))
      keep, stop, interrupted = block, False, False
      try:
        for i, row in enumerate(values):
          if self._record_epoch(done + i, row, hooks, history):
            keep, stop = i + 1, True
            break
      except KeyboardInterrupt:
        keep, interrupted = len(history['loss']) - done, True
      if keep < block:
        snapshot.put_back()
        if keep:
          compiled_epochs(z, tf.constant(keep), draws)
      if interrupted:
        raise KeyboardInterrupt
      done += keep
      if stop:
        return

  def _train_mini_batches(self, z, epochs, hooks, history, rng):
    batch = self.hparams.max_full_batch
    for epoch in range(epochs):
      order = rng.permutation(len(z))
      parts = [self._compiled_step(tf.constant(z[order[i:i + batch]]))
               for i in range(0, len(z), batch)]
      row = np.mean([[t.numpy() for t in p] for p in parts], axis=0)
      if self._record_epoch(epoch, row, hooks, history):
        return

  def _record_epoch(self, epoch, row, hooks, history):
    """Records one epoch's losses and calls back; True when asked to stop."""
    logs = dict(zip(('loss', 'reconstruction_loss', 'kl_loss'),
                    map(float, row)))
    if not np.isfinite(logs['loss']):
      rate = self.hparams.learning_rate
      why = (f'Training diverged at epoch {epoch + 1} (the loss became '
             f'{logs["loss"]}); lower the learning rate from {rate:g} to '
             f'{rate / 10:g} or less, e.g. ')
      raise TrainingDivergedError(
          f'{why}hparams={{"learning_rate": {rate / 10:g}}}.',
          cli=f'{why}--hparams=learning_rate={rate / 10:g}.')
    for key, value in logs.items():
      history[key].append(value)
    _call_all(hooks, 'on_epoch_end', epoch, logs)
    return bool(self.stop_training)


class _Snapshot:
  """Copies of the training state, taken and put back in one call each."""

  def __init__(self, state):
    self._state = list(state)
    self._copies = [tf.Variable(v, trainable=False) for v in self._state]
    self.take = tf.function(lambda: self._copy(self._state, self._copies),
                            autograph=False)
    self.put_back = tf.function(
        lambda: self._copy(self._copies, self._state), autograph=False)

  @staticmethod
  def _copy(sources, targets):
    for source, target in zip(sources, targets):
      target.assign(source)


def _call_all(hooks, method, *args):
  for hook in hooks:
    getattr(hook, method, lambda *_: None)(*args)
