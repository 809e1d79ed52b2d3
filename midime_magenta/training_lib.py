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
    self.variables = [self.iterations, *(s for m_v in self._slots for s in m_v)]

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
  """`train` for `midime_model.MidiMe` (its `_train_epochs`)."""

  def train(self, z, epochs=None, callbacks=(), shuffle_seed=None,
            jit_compile=False, noise=None):
    """Trains on MusicVAE latents z [n, input_size]; returns the loss history.

    Args:
      callbacks: objects with `on_train_begin`, `on_epoch_end`, `on_train_end`,
        or functions `f(epoch, logs)`; `model.stop_training = True` stops.
      noise: float [epochs, n, latent_size] draws to replay (full batches).

    The weights kept are the last epoch's in the history after a stop or
    Ctrl-C (which returns what was trained, with `interrupted` True), and with
    full batches (up to `max_full_batch` chunks) after an error too (a
    divergence, a failing callback).

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
    batch = self.hparams.max_full_batch
    if noise is not None:
      noise = np.asarray(noise, np.float32)
      if (noise.shape != (epochs, len(z), self.hparams.latent_size) or
          len(z) > batch):
        raise errors.UsageError(
            f'noise must have shape [{epochs}, {len(z)}, '
            f'{self.hparams.latent_size}] and the chunks fit one batch of '
            f'{batch}, got {list(noise.shape)}.')
    jit = bool(jit_compile) and len(z) <= batch  # XLA for full batches only.
    if jit not in self._compiled_epochs:
      self._compiled_epochs[jit] = tf.function(
          self._train_epochs, reduce_retracing=True, jit_compile=jit,
          autograph=False)
    run = self._compiled_epochs[jit]
    hooks = [types.SimpleNamespace(on_epoch_end=c) if callable(c) and not
             hasattr(c, 'on_epoch_end') else c for c in callbacks]
    history = {'loss': [], 'reconstruction_loss': [], 'kl_loss': [],
               'interrupted': False, 'device': startup_lib.device_name()}
    logging.info('Training MidiMe on %s.', history['device'])
    self.stop_training = False
    start = time.perf_counter()
    _call_all(hooks, 'on_train_begin', {})
    try:
      if len(z) <= batch:
        self._train_full_batch(tf.constant(z), epochs, hooks, history, run,
                               noise, _XLA_BLOCK if jit_compile else None)
      else:  # Mini-batches in a shuffled order, one graph call each.
        rng = np.random.default_rng(shuffle_seed)
        for epoch in range(epochs):
          order = rng.permutation(len(z))
          row = np.mean([run(tf.constant(z[order[i:i + batch]]),
                             tf.constant(1)).numpy()[0]
                         for i in range(0, len(z), batch)], axis=0)
          if self._record_epoch(epoch, row, hooks, history):
            break
    except KeyboardInterrupt:
      history['interrupted'] = True
    history['seconds'] = time.perf_counter() - start
    _call_all(hooks, 'on_train_end', {'seconds': history['seconds']})
    return history

  def _train_full_batch(self, z, epochs, hooks, history, run, noise,
                        fixed_block):
    """Full-batch epochs in compiled blocks; a stop asked for in a block's
    callbacks puts the state back and runs the block again up to that epoch."""
    if self._snapshot is None:
      state = [*self.weights, *self.optimizer_.variables, self._noise.state]
      copies = [tf.Variable(v, trainable=False) for v in state]
      self._snapshot = (_copier(state, copies), _copier(copies, state))
    take, put_back = self._snapshot
    done, size = 0, fixed_block or _FIRST_BLOCK
    while done < epochs:  # A stop asked for before any epoch: after one.
      block = min(size, epochs - done)
      take()  # Ctrl-C up to here leaves the state as it was.
      draws = None if noise is None else tf.constant(noise[done:done + block])
      started = time.perf_counter()
      try:
        values = run(z, tf.constant(block), draws).numpy()
      except KeyboardInterrupt:
        put_back()  # The block may or may not have run.
        raise
      size = fixed_block or int(np.clip(
          _SECONDS_PER_CALL * block / max(time.perf_counter() - started, 1e-6),
          1, _MAX_BLOCK))
      try:
        for i, row in enumerate(values):
          if self._record_epoch(done + i, row, hooks, history):
            break
      finally:  # Also on Ctrl-C: the weights of the last epoch recorded.
        keep = len(history['loss']) - done
        if keep < block:
          put_back()
          if keep:
            run(z, tf.constant(keep), draws)
      done += keep
      if self.stop_training:
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


def _copier(sources, targets):
  """One graph call that copies `sources` into `targets` (Ctrl-C cannot land
  half way)."""
  def copy():
    for source, target in zip(sources, targets):
      target.assign(source)
  return tf.function(copy, autograph=False)


def _call_all(hooks, method, *args):
  for hook in hooks:
    getattr(hook, method, lambda *_: None)(*args)
