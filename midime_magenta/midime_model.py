"""MidiMe: a small VAE on MusicVAE latents (a latent-constraint VAE).

The architecture and loss are Magenta.js MidiMe's (music_vae/midi_me.ts), so
a model trained here behaves like the one in the browser demo:

  z [batch, input_size] -> Dense+ReLU (1024, 256, 64) -> mu, sigma (softplus)
  small_z = mu + sigma * eps        [batch, latent_size]
  small_z -> Dense+ReLU (64, 256, 1024) -> linear -> z' [batch, input_size]

  loss = mean over batch of sum((z - z')^2) / 2            (reconstruction)
       + beta * mean over batch of KL(N(mu, sigma) || N(0, I))

Training is Adam on one full batch per epoch (mini-batches only above
`max_full_batch` chunks), several epochs per compiled call, so a small run
is not dominated by Python round trips (see `train`).

The model knows no files: `run_lib.save_run` and `run_lib.load_run` write
and read it as a run folder, the package's one save format.
"""

import re
import time

import numpy as np
import tensorflow as tf
from absl import logging

from midime_magenta import errors
from midime_magenta import midime_hparams
from midime_magenta import startup_lib

MAX_PARAMETERS = 100_000_000  # 400 MB of float32: far above MidiMe's ~0.8M.
# Keeps log(sigma^2) finite when softplus underflows to 0.
_LOG_EPSILON = 1e-12
# Epochs per compiled call on full batches: amortises the call overhead while
# callbacks (progress, Ctrl-C) still come every ~0.1 s or less.
_EPOCHS_PER_CALL = 20


class TrainingDivergedError(errors.MidiMeError):
  """Training produced a non-finite loss."""


class LatentsError(errors.MidiMeError, ValueError):
  """Latents of the wrong shape, or not finite."""


class ModelSizeError(errors.MidiMeError):
  """Hyperparameters that would make a model too large for memory."""


MAX_VARIATION = 10.0


def check_variation(variation):
  """Raises ValueError unless `variation` is a usable latent scale."""
  if not (isinstance(variation, (int, float, np.floating)) and
          0.0 < variation <= MAX_VARIATION):
    raise ValueError(f'variation must be in (0, {MAX_VARIATION:g}], got '
                     f'{variation}.')


class NamedWeights:
  """A Keras model's weights by stable names, the keys of the save format:
  'midime/encoder_0/kernel:0' is 'encoder_0.kernel' (layer, variable)."""

  def weight_shapes(self):
    """{name: shape} of every weight, in a stable order."""
    return {_weight_key(w.name): list(w.shape) for w in self.weights}

  def weight_arrays(self):
    return {_weight_key(w.name): w.numpy() for w in self.weights}

  def set_weight_arrays(self, arrays):
    self.set_weights([arrays[_weight_key(w.name)] for w in self.weights])


def _weight_key(name):
  return '.'.join(re.sub(r':\d+$', '', name).split('/')[-2:])


class MidiMe(NamedWeights, tf.keras.Model):
  """MidiMe: a VAE on MusicVAE latents. See the module docstring.

  Args:
    input_size: the MusicVAE's z size (256 for mel_2bar_small).
    hparams: `midime_hparams.HParams`; Magenta.js defaults when omitted.
    music_vae: the identity of the MusicVAE (`run_lib.describe_music_vae`),
      saved with the model and checked on load.
    seed: seeds initialisation and noise; None draws fresh randomness.
  """

  def __init__(self, input_size, hparams=None, music_vae=None, seed=None,
               name='midime'):
    super().__init__(name=name)
    self.input_size = int(input_size)
    self.hparams = hparams or midime_hparams.HParams()
    count = self.hparams.parameter_count(self.input_size)
    if count > MAX_PARAMETERS:
      raise ModelSizeError(
          f'These hyperparameters give a MidiMe of {count:,} weights, more '
          f'than the {MAX_PARAMETERS:,} we allow (Magenta.js uses about '
          '0.8 million); choose smaller layers.')
    self.music_vae = dict(music_vae or {})
    self.training_summary = {}
    hp = self.hparams
    self.encoder_hidden = [
        tf.keras.layers.Dense(w, activation='relu', name=f'encoder_{i}')
        for i, w in enumerate(hp.encoder_layers)]
    self.encoder_mu = tf.keras.layers.Dense(hp.latent_size, name='encoder_mu')
    self.encoder_sigma = tf.keras.layers.Dense(
        hp.latent_size, activation='softplus', name='encoder_sigma')
    self.decoder_hidden = [
        tf.keras.layers.Dense(w, activation='relu', name=f'decoder_{i}')
        for i, w in enumerate(hp.decoder_layers)]
    self.decoder_output = tf.keras.layers.Dense(
        self.input_size, name='decoder_output')
    self._noise = tf.random.Generator.from_seed(0)
    self.optimizer_ = tf.keras.optimizers.Adam(hp.learning_rate)
    self.build((None, self.input_size))
    self.optimizer_.build(self.trainable_variables)
    self._compiled_step = None
    self._compiled_epochs = {}
    self.reset(seed)

  def reset(self, seed=None):
    """Starts over (fresh kernels, zero biases, a new Adam) as a new model
    made with `seed` would, keeping the traced training functions."""
    seeds = iter(range(10_000) if seed is None else range(seed, seed + 10_000))
    layers = [*self.encoder_hidden, self.encoder_mu, self.encoder_sigma,
              *self.decoder_hidden, self.decoder_output]
    for layer in layers:
      init = tf.keras.initializers.GlorotUniform(
          seed=None if seed is None else next(seeds))
      layer.kernel.assign(init(layer.kernel.shape))
      layer.bias.assign(tf.zeros_like(layer.bias))
    for variable in self.optimizer_.variables:
      variable.assign(tf.zeros_like(variable))
    self._noise.reset_from_seed(
        np.random.SeedSequence().entropy % 2**63 if seed is None else seed)
    self.stop_training = False

  # -- the network -----------------------------------------------------------

  def encode_distribution(self, z):
    """Returns (mu, sigma), each [batch, latent_size], for z [batch, input_size]."""
    h = z
    for layer in self.encoder_hidden:
      h = layer(h)
    return self.encoder_mu(h), self.encoder_sigma(h)

  def decode_tensor(self, small_z):
    """Maps small latents [batch, latent_size] to MusicVAE z [batch, input_size]."""
    h = small_z
    for layer in self.decoder_hidden:
      h = layer(h)
    return self.decoder_output(h)

  def call(self, z, training=False):
    mu, sigma = self.encode_distribution(z)
    if training:
      mu = mu + sigma * self._noise.normal(tf.shape(mu))
    return self.decode_tensor(mu)

  def compute_losses(self, z):
    """Returns (total, reconstruction, kl) scalars, as Magenta.js computes them."""
    mu, sigma = self.encode_distribution(z)
    small_z = mu + sigma * self._noise.normal(tf.shape(mu))
    z_out = self.decode_tensor(small_z)
    reconstruction = tf.reduce_mean(
        tf.reduce_sum(tf.square(z - z_out), axis=-1) / 2.0)
    kl = -0.5 * tf.reduce_mean(tf.reduce_sum(
        1.0 + tf.math.log(tf.square(sigma) + _LOG_EPSILON) - tf.square(mu) -
        tf.square(sigma), axis=-1))
    return reconstruction + self.hparams.beta * kl, reconstruction, kl

  def _train_step(self, z):
    with tf.GradientTape() as tape:
      total, reconstruction, kl = self.compute_losses(z)
    grads = tape.gradient(total, self.trainable_variables)
    self.optimizer_.apply_gradients(zip(grads, self.trainable_variables))
    return total, reconstruction, kl

  def _train_epochs(self, z, num_epochs):
    """`num_epochs` full-batch steps in one graph call; losses [n, 3].

    On small data a step takes about a millisecond, so one Python round trip
    per epoch would cost as much as the arithmetic (see bench/).
    """
    losses = tf.TensorArray(tf.float32, size=num_epochs)
    for i in tf.range(num_epochs):
      losses = losses.write(i, tf.stack(self._train_step(z)))
    return losses.stack()

  # -- training --------------------------------------------------------------

  def _check_latents(self, z, what='z'):
    try:
      z = np.asarray(z, np.float32)
    except (TypeError, ValueError):
      raise LatentsError(f'{what} must be numbers of shape '
                         f'[n, {self.input_size}].') from None
    if z.ndim != 2 or z.shape[1] != self.input_size:
      raise LatentsError(f'{what} must have shape [n, {self.input_size}], got '
                         f'{list(z.shape)}.')
    if not np.all(np.isfinite(z)):
      raise LatentsError(f'{what} holds NaN or infinite values.')
    return z

  def train(self, z, epochs=None, callbacks=(), shuffle_seed=None,
            jit_compile=False):
    """Trains on MusicVAE latents and returns the loss history.

    Args:
      z: float [n, input_size], the mu of each chunk.
      epochs: defaults to `hparams.num_epochs`.
      callbacks: objects with any of `on_train_begin(logs)`,
        `on_epoch_end(epoch, logs)`, `on_train_end(logs)` (Keras callbacks
        fit), or plain functions `f(epoch, logs)`. Setting
        `model.stop_training = True` in one ends training after that epoch.
      shuffle_seed: seeds the mini-batch order (above `max_full_batch`).
      jit_compile: compile full-batch epochs with XLA (see bench/).

    Full-batch epochs run in compiled blocks of up to `_EPOCHS_PER_CALL`.
    A stop inside a block (a callback, Ctrl-C) puts weights, optimizer and
    noise back to the block's start and runs again up to the epoch asked
    for, so the weights kept are those of the last epoch in the history.
    Ctrl-C returns what was trained so far, `history['interrupted']` True.

    Returns:
      {'loss': [...], 'reconstruction_loss': [...], 'kl_loss': [...],
       'seconds': float, 'interrupted': bool, 'device': str}, one entry per
      epoch.

    Raises:
      LatentsError: for latents of the wrong shape, NaN, or none at all.
      TrainingDivergedError: when the loss stops being finite; the message
        says how far to lower the learning rate.
    """
    z = self._check_latents(z)
    if not len(z):  # pylint: disable=g-explicit-length-test
      raise LatentsError('There are no chunks to train on.')
    epochs = int(epochs or self.hparams.num_epochs)
    if self._compiled_step is None:
      self._compiled_step = tf.function(self._train_step, reduce_retracing=True)
    if jit_compile not in self._compiled_epochs:
      self._compiled_epochs[jit_compile] = tf.function(
          self._train_epochs, reduce_retracing=True, jit_compile=jit_compile)
    hooks = [c if hasattr(c, 'on_epoch_end') or not callable(c)
             else _FunctionCallback(c) for c in callbacks]
    for hook in hooks:
      if hasattr(hook, 'set_model'):
        hook.set_model(self)
    history = {'loss': [], 'reconstruction_loss': [], 'kl_loss': [],
               'interrupted': False, 'device': startup_lib.device_name()}
    logging.info('Training MidiMe on %s.', history['device'])
    self.stop_training = False
    start = time.perf_counter()
    _call_all(hooks, 'on_train_begin', {})
    try:
      if len(z) <= self.hparams.max_full_batch:
        self._train_full_batch(tf.constant(z), epochs, hooks, history,
                               self._compiled_epochs[jit_compile])
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

  def _train_full_batch(self, z, epochs, hooks, history, compiled_epochs):
    """Full-batch epochs in compiled blocks; stops at the epoch asked for."""
    done = 0
    while done < epochs:
      block = min(_EPOCHS_PER_CALL, epochs - done)
      snapshot = [v.numpy() for v in self._state_variables()]
      try:
        values = compiled_epochs(z, tf.constant(block)).numpy()
      except KeyboardInterrupt:
        self._restore(snapshot)  # The block may or may not have run.
        raise
      keep, stop, interrupted = block, False, False
      try:
        for i, row in enumerate(values):
          if self._record_epoch(done + i, row, hooks, history):
            keep, stop = i + 1, True
            break
      except KeyboardInterrupt:
        keep, interrupted = len(history['loss']) - done, True
      if keep < block:
        self._restore(snapshot)
        if keep:
          compiled_epochs(z, tf.constant(keep))
      if interrupted:
        raise KeyboardInterrupt
      done += keep
      if stop:
        return

  def _restore(self, snapshot):
    for variable, value in zip(self._state_variables(), snapshot):
      variable.assign(value)

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
    total, reconstruction, kl = (float(v) for v in row)
    if not np.isfinite(total):
      rate = self.hparams.learning_rate
      raise TrainingDivergedError(
          f'Training diverged at epoch {epoch + 1} (the loss became '
          f'{total}); lower the learning rate from {rate:g} to {rate / 10:g} '
          f'or less, e.g. --hparams=learning_rate={rate / 10:g}.')
    history['loss'].append(total)
    history['reconstruction_loss'].append(reconstruction)
    history['kl_loss'].append(kl)
    logs = {'loss': total, 'reconstruction_loss': reconstruction,
            'kl_loss': kl}
    _call_all(hooks, 'on_epoch_end', epoch, logs)
    return bool(self.stop_training)

  # -- using a trained model -------------------------------------------------

  def encode(self, z, return_sample=False):
    """MusicVAE latents [n, input_size] -> mu [n, latent_size]; with
    `return_sample`, (mu, a reparameterised sample)."""
    mu, sigma = self.encode_distribution(self._check_latents(z))
    if not return_sample:
      return mu.numpy()
    return mu.numpy(), (mu + sigma * self._noise.normal(tf.shape(mu))).numpy()

  def decode(self, small_z):
    """Decodes small latents [n, latent_size] to MusicVAE latents."""
    small_z = np.asarray(small_z, np.float32).reshape(
        [-1, self.hparams.latent_size])
    return self.decode_tensor(small_z).numpy()

  def sample(self, n, seed=None, variation=1.0):
    """Draws n small latents from N(0, variation^2 I), decodes them.

    Args:
      n: how many.
      seed: for the draws.
      variation: the scale of the small latents. MidiMe spreads the
        input's chunks over N(0, I); near the centre its decoder gives a
        blend of them, farther out particular chunks (docs/evaluation.md).

    Returns:
      float [n, input_size].
    """
    check_variation(variation)
    rng = np.random.default_rng(seed)
    return self.decode(variation * rng.standard_normal(
        [n, self.hparams.latent_size]).astype(np.float32))

  def walk(self, n, step_size=0.3, seed=None, variation=1.0):
    """n points of a smooth random walk in the small space, decoded.

    x' = sqrt(1 - step_size^2) x + step_size e, e ~ N(0, I): neighbours stay
    close for a small `step_size` (1: independent samples), and every point
    is a draw from N(0, variation^2 I), so a long walk does not drift off.

    Returns:
      float [n, input_size], in walking order.
    """
    check_variation(variation)
    if not 0.0 < step_size <= 1.0:
      raise ValueError(f'step_size must be in (0, 1], got {step_size}.')
    rng = np.random.default_rng(seed)
    size = self.hparams.latent_size
    points = np.empty([n, size], np.float32)
    x = rng.standard_normal(size)
    keep = np.sqrt(1.0 - step_size ** 2)
    for i in range(n):
      points[i] = x
      x = keep * x + step_size * rng.standard_normal(size)
    return self.decode(variation * points)

  def reconstruct(self, z):
    """z -> mu -> decoded z: what MidiMe keeps of each latent."""
    return self.decode(self.encode(z))

  def traverse(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
               base=None):
    """MusicVAE latents along one small dimension (a demo slider).

    Args:
      dimension: 0-based index into the small latent space.
      values: the positions to decode along that dimension.
      base: the small latent the others stay at; zeros (the prior mean).

    Returns:
      float [len(values), input_size].
    """
    size = self.hparams.latent_size
    if not 0 <= dimension < size:
      raise errors.UsageError(
          f'dimension must be in [0, {size}), got {dimension}.')
    small = np.tile(np.zeros(size, np.float32) if base is None
                    else np.asarray(base, np.float32), (len(values), 1))
    small[:, dimension] = values
    return self.decode(small)

  def interpolate(self, z_a, z_b, steps):
    """Decodes `steps` evenly spaced points between two latents' small codes.

    Args:
      z_a, z_b: MusicVAE latents, [input_size] each.
      steps: number of points, ends included (at least 2).

    Returns:
      float [steps, input_size].
    """
    if steps < 2:
      raise ValueError(f'steps must be at least 2, got {steps}.')
    ends = self.encode(np.stack([np.ravel(z_a), np.ravel(z_b)]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return self.decode((1 - weights) * ends[0] + weights * ends[1])


class _FunctionCallback:

  def __init__(self, fn):
    self._fn = fn

  def on_epoch_end(self, epoch, logs):
    self._fn(epoch, logs)


def _call_all(hooks, method, *args):
  for hook in hooks:
    fn = getattr(hook, method, None)
    if fn is not None:
      fn(*args)
