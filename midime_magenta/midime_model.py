"""MidiMe: a small VAE on MusicVAE latents (a latent-constraint VAE).

The architecture and loss are Magenta.js MidiMe's (music_vae/midi_me.ts), so
a model trained here behaves like the one in the browser demo:

  z [batch, input_size] -> Dense+ReLU (1024, 256, 64) -> mu, sigma (softplus)
  small_z = mu + sigma * eps        [batch, latent_size]
  small_z -> Dense+ReLU (64, 256, 1024) -> linear -> z' [batch, input_size]

  loss = mean over batch of sum((z - z')^2) / 2            (reconstruction)
       + beta * mean over batch of KL(N(mu, sigma) || N(0, I))

Training is Adam on one full batch per epoch (mini-batches only above
`max_batch_size` chunks), each step one compiled `tf.function` call.

A saved model is a folder holding `midime.json` (hyperparameters, the
MusicVAE it belongs to, weight names and shapes, and the weights file's
sha256) and `weights-<hash>.npz` (plain float arrays). Loading reads JSON and
`np.load(allow_pickle=False)`: nothing in the folder can run code. Saving
writes the weights under a new name and then atomically replaces
`midime.json`, so an interrupted save leaves the previous model whole.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf

from midime_magenta import file_util
from midime_magenta import midime_hparams

MODEL_FILE = 'midime.json'
_FORMAT = 'midime_magenta.model'
_FORMAT_VERSION = 1
_MAX_JSON_BYTES = 1 << 20
# Keeps log(sigma^2) finite when softplus underflows to 0.
_LOG_EPSILON = 1e-12
# Epochs per compiled call on full batches: amortises the call overhead while
# callbacks (progress, TensorBoard, Ctrl-C) still come every ~0.1 s or less.
_EPOCHS_PER_CALL = 20


class ModelFileError(ValueError):
  """A saved model that is missing, damaged or not a MidiMe model."""


class ModelMismatchError(ValueError):
  """A saved model that belongs to another MusicVAE."""


class TrainingDivergedError(RuntimeError):
  """Training produced a non-finite loss."""


def describe_music_vae(config_name, z_size, fingerprint):
  """The identity of a MusicVAE that a MidiMe model is stored with."""
  return {'config': config_name, 'z_size': int(z_size),
          'fingerprint': fingerprint}


class MidiMe(tf.keras.Model):
  """MidiMe: a VAE on MusicVAE latents. See the module docstring.

  Args:
    input_size: the MusicVAE's z size (256 for mel_2bar_small).
    hparams: `midime_hparams.HParams`; Magenta.js defaults when omitted.
    music_vae: `describe_music_vae(...)` of the MusicVAE whose latents this
      model is trained on; saved with the model and checked on load.
    seed: seeds weight initialisation and the reparameterisation noise, for
      repeatable training. None draws fresh randomness.
  """

  def __init__(self, input_size, hparams=None, music_vae=None, seed=None,
               name='midime'):
    super().__init__(name=name)
    self.input_size = int(input_size)
    self.hparams = hparams or midime_hparams.HParams()
    self.music_vae = dict(music_vae or {})
    self.training_summary = {}
    seeds = iter(range(10_000)) if seed is None else iter(
        range(seed, seed + 10_000))
    init = lambda: tf.keras.initializers.GlorotUniform(  # pylint: disable=g-long-lambda
        seed=None if seed is None else next(seeds))
    hp = self.hparams
    self.encoder_hidden = [
        tf.keras.layers.Dense(w, activation='relu', kernel_initializer=init(),
                              name=f'encoder_{i}')
        for i, w in enumerate(hp.encoder_layers)]
    self.encoder_mu = tf.keras.layers.Dense(
        hp.latent_size, kernel_initializer=init(), name='encoder_mu')
    self.encoder_sigma = tf.keras.layers.Dense(
        hp.latent_size, activation='softplus', kernel_initializer=init(),
        name='encoder_sigma')
    self.decoder_hidden = [
        tf.keras.layers.Dense(w, activation='relu', kernel_initializer=init(),
                              name=f'decoder_{i}')
        for i, w in enumerate(hp.decoder_layers)]
    self.decoder_output = tf.keras.layers.Dense(
        self.input_size, kernel_initializer=init(), name='decoder_output')
    self._noise = (tf.random.Generator.from_non_deterministic_state()
                   if seed is None else tf.random.Generator.from_seed(seed))
    self.optimizer_ = tf.keras.optimizers.Adam(hp.learning_rate)
    self.build((None, self.input_size))
    self._compiled_step = None
    self._compiled_epochs = {}

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
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != self.input_size:
      raise ValueError(f'{what} must have shape [n, {self.input_size}], got '
                       f'{list(z.shape)}.')
    if not np.all(np.isfinite(z)):
      raise ValueError(f'{what} holds NaN or infinite values.')
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
      shuffle_seed: seeds mini-batch order (only used above max_batch_size).
      jit_compile: compile full-batch epochs with XLA. Measured on 2 CPU
        cores (bench/): it cuts a step's fixed cost from 4.0 to 1.5 ms (64
        chunks: 9.7 -> 6.9 ms per epoch) but its first call compiles for
        about 1.4 s, longer than a typical 100-epoch run on one tune; so it
        is off by default and pays off from several hundred epochs on.

    Ctrl-C (KeyboardInterrupt) ends training after the current epoch's step
    and returns what was trained so far, with `history['interrupted']` True,
    so a notebook or script keeps the model instead of losing it.

    Returns:
      {'loss': [...], 'reconstruction_loss': [...], 'kl_loss': [...],
       'seconds': float, 'interrupted': bool}, one entry per epoch.

    Raises:
      ValueError: for latents of the wrong shape, NaN, or none at all.
      TrainingDivergedError: when the loss stops being finite; the message
        names the learning rate to lower.
    """
    z = self._check_latents(z)
    if not len(z):  # pylint: disable=g-explicit-length-test
      raise ValueError('There are no chunks to train on.')
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
               'interrupted': False}
    rng = np.random.default_rng(shuffle_seed)
    batch = self.hparams.max_batch_size
    full_batch = tf.constant(z) if len(z) <= batch else None
    self.stop_training = False
    start = time.perf_counter()
    _call_all(hooks, 'on_train_begin', {})
    try:
      self._run_epochs(z, epochs, hooks, history, full_batch, rng,
                       self._compiled_epochs[jit_compile])
    except KeyboardInterrupt:
      history['interrupted'] = True
    history['seconds'] = time.perf_counter() - start
    _call_all(hooks, 'on_train_end', {'seconds': history['seconds']})
    return history

  def _epoch_losses(self, z, epochs, full_batch, rng, compiled_epochs):
    """Yields (total, reconstruction, kl) per epoch, training as it goes.

    Full-batch epochs run in compiled blocks of `_EPOCHS_PER_CALL`; their
    losses are yielded after each block, so callbacks still see every epoch.
    """
    batch = self.hparams.max_batch_size
    done = 0
    while done < epochs:
      if full_batch is not None:
        block = min(_EPOCHS_PER_CALL, epochs - done)
        values = compiled_epochs(full_batch, tf.constant(block)).numpy()
      else:
        order = rng.permutation(len(z))
        parts = [self._compiled_step(tf.constant(z[order[i:i + batch]]))
                 for i in range(0, len(z), batch)]
        values = [np.mean([[t.numpy() for t in p] for p in parts], axis=0)]
      for row in values:
        yield tuple(float(v) for v in row)
      done += len(values)

  def _run_epochs(self, z, epochs, hooks, history, full_batch, rng,
                  compiled_epochs):
    for epoch, (total, reconstruction, kl) in enumerate(
        self._epoch_losses(z, epochs, full_batch, rng, compiled_epochs)):
      if not np.isfinite(total):
        raise TrainingDivergedError(
            f'Training diverged at epoch {epoch + 1} (the loss became '
            f'{total}); lower the learning rate (now '
            f'{self.hparams.learning_rate:g}), e.g. --hparams=learning_rate='
            '0.001.')
      history['loss'].append(total)
      history['reconstruction_loss'].append(reconstruction)
      history['kl_loss'].append(kl)
      logs = {'loss': total, 'reconstruction_loss': reconstruction,
              'kl_loss': kl}
      _call_all(hooks, 'on_epoch_end', epoch, logs)
      if self.stop_training:
        break

  # -- using a trained model -------------------------------------------------

  def encode(self, z, return_sample=False):
    """Encodes MusicVAE latents [n, input_size] to mu [n, latent_size].

    With `return_sample`, returns (mu, a reparameterised sample).
    """
    mu, sigma = self.encode_distribution(self._check_latents(z))
    if not return_sample:
      return mu.numpy()
    return mu.numpy(), (mu + sigma * self._noise.normal(tf.shape(mu))).numpy()

  def decode(self, small_z):
    """Decodes small latents [n, latent_size] to MusicVAE latents."""
    small_z = np.asarray(small_z, np.float32).reshape(
        [-1, self.hparams.latent_size])
    return self.decode_tensor(small_z).numpy()

  def sample(self, n, seed=None):
    """Draws n small latents from N(0, I) and decodes them: [n, input_size]."""
    rng = np.random.default_rng(seed)
    return self.decode(rng.standard_normal(
        [n, self.hparams.latent_size]).astype(np.float32))

  def reconstruct(self, z):
    """z -> mu -> decoded z: what MidiMe keeps of each latent."""
    return self.decode(self.encode(z))

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

  # -- saving and loading ----------------------------------------------------

  def save(self, path):
    """Saves to a folder, atomically. See the module docstring for the format.

    Returns:
      The path of the model's JSON file.
    """
    os.makedirs(path, exist_ok=True)
    names = [w.name for w in self.weights]
    arrays = {f'w{i:03d}': w.numpy() for i, w in enumerate(self.weights)}
    tmp_weights = os.path.join(path, f'.weights-{os.getpid()}.npz.tmp')
    with open(tmp_weights, 'wb') as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    digest = file_util.sha256_file(tmp_weights)
    weights_file = f'weights-{digest[:16]}.npz'
    os.replace(tmp_weights, os.path.join(path, weights_file))
    meta = {
        'format': _FORMAT, 'version': _FORMAT_VERSION,
        'input_size': self.input_size,
        'hparams': self.hparams.to_dict(),
        'music_vae': self.music_vae,
        'weights_file': weights_file, 'weights_sha256': digest,
        'weights': [{'name': n, 'shape': list(a.shape)}
                    for n, a in zip(names, arrays.values())],
        'training': self.training_summary,
    }
    json_path = os.path.join(path, MODEL_FILE)
    file_util.write_json_atomically(json_path, meta)
    for stale in os.listdir(path):
      if (stale.startswith('weights-') and stale.endswith('.npz') and
          stale != weights_file):
        os.remove(os.path.join(path, stale))
    return json_path

  @classmethod
  def load(cls, path, expect_music_vae=None):
    """Loads a model saved by `save`, running no code from the files.

    Args:
      path: the model folder (or its midime.json).
      expect_music_vae: `describe_music_vae(...)` of the MusicVAE in use; the
        model must have been trained on that one.

    Raises:
      ModelFileError: when the folder has no model or it is damaged.
      ModelMismatchError: when it belongs to another MusicVAE (names both).
    """
    json_path = model_json_path(path)
    meta = _read_model_json(json_path)
    if expect_music_vae is not None:
      check_music_vae_matches(meta['music_vae'], expect_music_vae, json_path)
    folder = os.path.dirname(json_path)
    weights_path = os.path.join(folder, os.path.basename(meta['weights_file']))
    if (not os.path.isfile(weights_path) or
        file_util.sha256_file(weights_path) != meta['weights_sha256']):
      raise ModelFileError(
          f'The weights of the model in {folder} are missing or damaged '
          f'({os.path.basename(weights_path)} does not match its checksum); '
          'train it again.')
    try:
      with np.load(weights_path, allow_pickle=False) as npz:
        arrays = [npz[f'w{i:03d}'] for i in range(len(meta['weights']))]
    except (OSError, ValueError, KeyError) as e:
      raise ModelFileError(
          f'Cannot read the weights of the model in {folder} ({e}).') from None
    model = cls(meta['input_size'],
                midime_hparams.HParams.from_dict(meta['hparams']),
                music_vae=meta['music_vae'])
    expected = [(w.name, list(w.shape)) for w in model.weights]
    stored = [(w['name'], list(w['shape'])) for w in meta['weights']]
    actual = [list(a.shape) for a in arrays]
    if expected != stored or [s for _, s in stored] != actual:
      raise ModelFileError(
          f'The model in {folder} has weights that do not fit its '
          'hyperparameters; it is damaged, train it again.')
    model.set_weights(arrays)
    model.training_summary = meta.get('training', {})
    return model


def model_json_path(path):
  """The midime.json of a model folder (or the path itself if it is one)."""
  return path if path.endswith('.json') else os.path.join(path, MODEL_FILE)


def read_model_info(path):
  """Reads a saved model's JSON (hyperparameters, MusicVAE) without weights.

  Raises:
    ModelFileError: when there is no model or its JSON is damaged.
  """
  return _read_model_json(model_json_path(path))


def check_music_vae_matches(stored, expected, where):
  """Raises ModelMismatchError unless two MusicVAE identities agree."""
  fields = ('config', 'z_size', 'fingerprint')
  if all(stored.get(k) == expected.get(k) for k in fields):
    return
  describe = lambda d: (f'{d.get("config")} (checkpoint {d.get("fingerprint")}'  # pylint: disable=g-long-lambda
                        ')')
  raise ModelMismatchError(
      f'The MidiMe model in {where} was trained on MusicVAE '
      f'{describe(stored)}, not on the {describe(expected)} given; pass '
      'the config and checkpoint it was trained with, or train a new model.')


def _read_model_json(json_path):
  """Reads and validates a model's JSON file."""
  folder = os.path.dirname(json_path) or '.'
  if not os.path.isfile(json_path):
    raise ModelFileError(
        f'There is no MidiMe model in {folder} (no {MODEL_FILE}); run '
        'midime_train with --run_dir there first.')
  try:
    if os.path.getsize(json_path) > _MAX_JSON_BYTES:
      raise ValueError('file too large')
    with open(json_path, encoding='utf-8') as f:
      meta = json.load(f)
    if not isinstance(meta, dict) or meta.get('format') != _FORMAT:
      raise ValueError('not a MidiMe model file')
    if meta.get('version') != _FORMAT_VERSION:
      raise ValueError(f'unsupported version {meta.get("version")}')
    for key, kind in (('input_size', int), ('hparams', dict),
                      ('music_vae', dict), ('weights_file', str),
                      ('weights_sha256', str), ('weights', list)):
      if not isinstance(meta.get(key), kind):
        raise ValueError(f'field {key} is missing or not a {kind.__name__}')
    midime_hparams.HParams.from_dict(meta['hparams'])
  except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
    raise ModelFileError(
        f'The model file {json_path} is damaged ({e}); train the model '
        'again.') from None
  return meta


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
