"""MidiMe: a small VAE on MusicVAE latents, as Magenta.js's midi_me.ts:

  z [batch, input_size] -> Dense+ReLU (1024, 256, 64) -> mu, sigma (softplus)
  small_z = mu + sigma * eps        [batch, latent_size]
  small_z -> Dense+ReLU (64, 256, 1024) -> linear -> z' [batch, input_size]
  loss = mean(sum((z - z')^2) / 2) + beta * mean(KL(N(mu, sigma) || N(0, I)))

Training is `training_lib`'s; the model knows no files (`run_lib` saves it).
"""

import re

import numpy as np
import tensorflow as tf

from midime_magenta import errors
from midime_magenta import midime_hparams
from midime_magenta import training_lib

_LOG_EPSILON = 1e-12  # log(sigma^2) stays finite when softplus gives 0.
MAX_VARIATION = 10.0  # The widest scale of MidiMe's draws.


TrainingDivergedError = training_lib.TrainingDivergedError
LatentsError = training_lib.LatentsError


def check_latents(z, width, what='z'):
  """`z` as finite float32 [n, width], else LatentsError naming `what`."""
  try:
    with np.errstate(over='ignore'):  # Beyond float32 is refused below.
      z = np.asarray(z, np.float32)
  except (TypeError, ValueError):
    raise LatentsError(f'{what} must be numbers of shape [n, {width}].'
                       ) from None
  if z.ndim != 2 or z.shape[1] != width:
    raise LatentsError(f'{what} must have shape [n, {width}], got '
                       f'{list(z.shape)}.')
  if not np.all(np.isfinite(z)):
    raise LatentsError(f'{what} holds NaN or infinite values.')
  return z


class ModelSizeError(errors.MidiMeError):
  """Hyperparameters that would make a model too large for memory."""


class NamedWeights:
  """Weights by stable names ('midime/encoder_0/kernel:0': 'encoder_0.kernel')."""

  def weight_arrays(self):
    return {'.'.join(re.sub(r':\d+$', '', w.name).split('/')[-2:]): w.numpy()
            for w in self.weights}

  def weight_shapes(self):
    return {k: list(a.shape) for k, a in self.weight_arrays().items()}

  def set_weight_arrays(self, arrays):
    self.set_weights([arrays[k] for k in self.weight_arrays()])


class MidiMe(NamedWeights, training_lib.Training, tf.keras.Model):
  """MidiMe: a VAE on MusicVAE latents (see the module docstring).

  Args:
    input_size: the MusicVAE's z size (256 for mel_2bar_small).
    hparams: `midime_hparams.HParams`; Magenta.js defaults when omitted.
    music_vae: the MusicVAE's identity (`run_lib.describe_music_vae`).
    seed: seeds initialisation and noise; None draws fresh randomness.
  """

  def __init__(self, input_size, hparams=None, music_vae=None, seed=None,
               name='midime'):
    super().__init__(name=name)
    self.input_size = int(input_size)
    self.hparams = hparams or midime_hparams.HParams()
    count = self.hparams.parameter_count(self.input_size)
    if count > (most := midime_hparams.MAX_PARAMETERS):
      raise ModelSizeError(
          f'These hyperparameters give a MidiMe of {count:,} weights, more '
          f'than the {most:,} we allow (Magenta.js uses about '
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
    self.build((None, self.input_size))
    self.optimizer_ = training_lib.Adam(
        self.trainable_variables, hp.learning_rate,
        tfjs=hp.optimizer == 'tfjs')
    self._snapshot, self._compiled_epochs = None, {}  # training_lib's.
    self.reset(seed)

  def reset(self, seed=None):
    """Starts over as a new model made with `seed`, keeping what is traced."""
    layers = [*self.encoder_hidden, self.encoder_mu, self.encoder_sigma,
              *self.decoder_hidden, self.decoder_output]
    for i, layer in enumerate(layers):
      layer.kernel.assign(_initial_kernel(
          layer.kernel.shape, self.hparams.initializer,
          None if seed is None else seed + i))
      layer.bias.assign(tf.zeros_like(layer.bias))
    for variable in self.optimizer_.variables:
      variable.assign(tf.zeros_like(variable))
    self._noise.reset_from_seed(
        np.random.SeedSequence().entropy % 2**63 if seed is None else seed)
    self.stop_training = False

  def encode_distribution(self, z):
    """Returns (mu, sigma), each [batch, latent_size], for z [batch, input_size]."""
    h = run_layers(self.encoder_hidden, z)
    return run_layers([self.encoder_mu], h), run_layers([self.encoder_sigma], h)

  def decode_tensor(self, small_z):
    """Maps small latents [batch, latent_size] to MusicVAE z [batch, input_size]."""
    return run_layers([*self.decoder_hidden, self.decoder_output], small_z)

  def call(self, z, training=False):
    mu, sigma = self.encode_distribution(z)
    if training:
      mu = mu + sigma * self._noise.normal(tf.shape(mu))
    return self.decode_tensor(mu)

  def compute_losses(self, z, noise=None):
    """(total, reconstruction, kl) as Magenta.js's; `noise`: [batch, latent]."""
    mu, sigma = self.encode_distribution(z)
    if noise is None:
      noise = self._noise.normal(tf.shape(mu))
    small_z = mu + sigma * noise
    z_out = self.decode_tensor(small_z)
    reconstruction = tf.reduce_mean(
        tf.reduce_sum(tf.square(z - z_out), axis=-1) / 2.0)
    kl = -0.5 * tf.reduce_mean(tf.reduce_sum(
        1.0 + tf.math.log(tf.square(sigma) + _LOG_EPSILON) - tf.square(mu) -
        tf.square(sigma), axis=-1))
    return reconstruction + self.hparams.beta * kl, reconstruction, kl

  def _train_epochs(self, z, num_epochs, noise=None):
    """`num_epochs` steps on the batch z in one graph call; losses [n, 3]."""
    def step(i, losses):
      with tf.GradientTape() as tape:
        values = self.compute_losses(z, None if noise is None else noise[i])
      self.optimizer_.apply(tape.gradient(values[0],
                                          self.trainable_variables))
      return i + 1, losses.write(i, tf.stack(values))

    _, losses = tf.while_loop(
        lambda i, _: i < num_epochs, step,
        (tf.constant(0), tf.TensorArray(tf.float32, size=num_epochs)))
    return losses.stack()

  def _check_latents(self, z):
    return check_latents(z, self.input_size)

  def encode(self, z, return_sample=False):
    """Latents [n, input_size] -> mu [n, latent_size] (and a sample)."""
    mu, sigma = self.encode_distribution(self._check_latents(z))
    if not return_sample:
      return mu.numpy()
    return mu.numpy(), (mu + sigma * self._noise.normal(tf.shape(mu))).numpy()

  def decode(self, small_z):
    """Decodes small latents [n, latent_size] to MusicVAE latents."""
    small_z = np.asarray(small_z, np.float32).reshape(
        [-1, self.hparams.latent_size])
    return self.decode_tensor(small_z).numpy()

  def sample_points(self, n, seed=None, variation=1.0):
    """n small latents drawn from N(0, variation^2 I): [n, latent_size]."""
    errors.check_real('variation', variation, 0, MAX_VARIATION, low_open=True)
    rng = np.random.default_rng(seed)
    return variation * rng.standard_normal(
        [n, self.hparams.latent_size]).astype(np.float32)

  def sample(self, n, seed=None, variation=1.0):
    """Decodes n small latents drawn from N(0, variation^2 I)."""
    return self.decode(self.sample_points(n, seed, variation))

  def walk(self, n, step_size=0.3, seed=None, variation=1.0):
    """`walk_points` decoded: [n, input_size], in walking order."""
    return self.decode(self.walk_points(n, step_size, seed, variation))

  def walk_points(self, n, step_size=0.3, seed=None, variation=1.0):
    """n points of a walk x' = sqrt(1 - step^2) x + step e: [n, latent_size]."""
    errors.check_real('variation', variation, 0, MAX_VARIATION, low_open=True)
    errors.check_real('step_size', step_size, 0, 1, low_open=True)
    rng = np.random.default_rng(seed)
    size = self.hparams.latent_size
    points = np.empty([n, size], np.float32)
    x = rng.standard_normal(size)
    keep = np.sqrt(1.0 - step_size ** 2)
    for i in range(n):
      points[i] = x
      x = keep * x + step_size * rng.standard_normal(size)
    return variation * points

  def reconstruct(self, z):
    """z -> mu -> decoded z: what MidiMe keeps of each latent."""
    return self.decode(self.encode(z))

  def traverse(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
               base=None):
    """Latents along small `dimension` (a slider), the rest at `base` or 0."""
    size = self.hparams.latent_size
    dimension = errors.check_int('dimension', dimension, 0, size - 1)
    values = [errors.check_real('values', v, -100, 100)
              for v in np.ravel(np.asarray(values, object))]
    small = np.tile(np.zeros(size, np.float32) if base is None
                    else check_latents([base], size, 'base')[0],
                    (len(values), 1))
    small[:, dimension] = values
    return self.decode(small)

  def interpolate(self, z_a, z_b, steps):
    """`steps` points between two latents' small codes, decoded."""
    errors.check_int('steps', steps, 2, 100_000)
    ends = self.encode(np.stack([np.ravel(z_a), np.ravel(z_b)]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return self.decode((1 - weights) * ends[0] + weights * ends[1])


def run_layers(layers, h):
  """Dense layers in turn, built ones by `call` (`__call__` fails after TF1)."""
  h = tf.convert_to_tensor(h, tf.float32)
  for layer in layers:
    h = layer.call(h) if layer.built else layer(h)
  return h


def _initial_kernel(shape, initializer, seed):
  """A Dense kernel as tfjs (`glorotNormal`, truncated) or Keras draws it."""
  if initializer == 'keras':
    return tf.keras.initializers.GlorotUniform(seed=seed)(shape)
  fan_in, fan_out = shape
  return tf.keras.initializers.TruncatedNormal(
      stddev=float(np.sqrt(2.0 / (fan_in + fan_out))), seed=seed)(shape)
