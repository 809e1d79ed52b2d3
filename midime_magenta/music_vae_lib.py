"""A frozen MusicVAE, restored through magenta's `TrainedModel` once its
checkpoint was checked against the config."""

import contextlib
import dataclasses

from absl import logging
import numpy as np
import tensorflow.compat.v1 as tf
from magenta.models.music_vae import TrainedModel

from midime_magenta import checkpoints
from midime_magenta import configs
from midime_magenta import progress_lib
from midime_magenta import startup_lib
from midime_magenta import windows_lib


GREEDY_TEMPERATURE = 1e-6  # What temperature 0 (the demo's greedy) means.


@dataclasses.dataclass
class FrozenMusicVAE:
  """A restored MusicVAE, never trained further: its config's name (e.g.
  'cat-mel_2bar_small') and private copy, the checkpoint prefix restored and
  its weights' hash, and magenta's `TrainedModel`."""
  config_name: str
  config: object
  checkpoint: str
  fingerprint: str
  trained_model: TrainedModel

  @property
  def z_size(self):
    return self.config.hparams.z_size

  @property
  def chunk_steps(self):
    return self.config.hparams.max_seq_len

  @property
  def chunk_seconds(self):
    return self.chunk_steps * windows_lib.STEP_SECONDS

  @property
  def batch_size(self):
    return self.config.hparams.batch_size

  def encode_tensors(self, inputs, lengths, controls=(), progress=True):
    """Encodes converter tensors to mu, float32 [n, z_size]."""
    if not len(inputs):  # pylint: disable=g-explicit-length-test
      return np.zeros([0, self.z_size], np.float32)
    inputs, lengths, controls = list(inputs), list(lengths), list(controls)
    slices = []
    with (progress_lib.progress_bar(len(inputs), 'Encoding chunks', 'chunks')
          if progress else contextlib.nullcontext()) as bar:
      for start in range(0, len(inputs), self.batch_size):
        part = slice(start, start + self.batch_size)
        with startup_lib.quiet_first_run('encode'):
          _, mu, _ = self.trained_model.encode_tensors(
              inputs[part], lengths[part], controls[part] or None)
        slices.append(np.asarray(mu, np.float32))
        if bar is not None:
          bar.update(len(slices[-1]))
    return np.concatenate(slices)

  def decode(self, z, temperature=0.5):
    """Decodes latents [n, z_size] into n chunks; `temperature` 0 is greedy."""
    z = np.asarray(z, np.float32)
    if not len(z):  # pylint: disable=g-explicit-length-test
      return []
    with startup_lib.quiet_first_run('decode'):
      return self.trained_model.decode(
          z, length=self.chunk_steps,
          temperature=GREEDY_TEMPERATURE if temperature == 0 else temperature)

  def prior_latents(self, n, rng=None):
    """n latents from N(0, I), float32 [n, z_size]; `rng` a Generator or seed."""
    return np.random.default_rng(rng).standard_normal(
        [n, self.z_size]).astype(np.float32)

  def important_dimensions(self, n=16, draws=256, seed=0):
    """(dimensions int [n], variance float32 [n]): the `n` dimensions of z
    whose mu varies most over `draws` prior samples decoded and encoded again,
    most first (docs/studio.md)."""
    tensors = np.asarray(self.trained_model.decode_to_tensors(
        self.prior_latents(draws, seed), length=self.chunk_steps,
        temperature=GREEDY_TEMPERATURE))  # Greedy: the same answer each time.
    mu = self.encode_tensors(tensors, [self.chunk_steps] * draws,
                             progress=False)
    variance = mu.var(0)
    top = np.argsort(-variance, kind='stable')[:n]
    return top, variance[top]


def resolve_config(config, checkpoint_file, fallback=None):
  """(MidiMe config, checkpoint prefix): `config`, or (None) the one the
  checkpoint carries, else `fallback` (a name), else the one it fits.

  Raises:
    configs.ConfigError: no config to be had, or a disagreeing one.
    checkpoints.CheckpointError, checkpoints.DownloadError.
  """
  if isinstance(config, str):  # An unknown name fails before any download.
    config = configs.get_config(config)
  resolved = checkpoints.resolve_checkpoint(checkpoint_file)
  if resolved.description:
    logging.info('MusicVAE %s: %s.', resolved.music_vae_config,
                 resolved.description)
  carried = resolved.music_vae_config
  if config is None:
    return resolved.midime_config or configs.get_config(
        carried or fallback or checkpoints.config_of_variables(
            resolved.prefix, checkpoint_file)), resolved.prefix
  if carried is not None and config.music_vae_config != carried and (
      checkpoints.config_variables(config) !=
      checkpoints.config_variables(resolved.midime_config or carried)):
    def mismatch(config_is, leave_out):
      return (f'Checkpoint {checkpoint_file} is a {carried} MusicVAE (its own '
              f'config says so), but {config_is}{config.name} is for '
              f'{config.music_vae_config}; leave {leave_out} out to use the '
              'checkpoint\'s.')
    raise configs.ConfigError(mismatch('config ', 'config'),
                              cli=mismatch('--config=', '--config'))
  return config, resolved.prefix


def load_music_vae(config, checkpoint_file, batch_size=128):
  """Restores a MusicVAE checkpoint for a config, after checking they fit.

  Args:
    config: a `configs.MidiMeConfig`, a registered name or a config file.
    checkpoint_file: a checkpoint prefix, a directory holding one, or a `.tar`.
    batch_size: the graph's batch size; inputs are split and padded to it.

  Raises:
    configs.ConfigError: for an unknown config.
    checkpoints.CheckpointError: a missing, damaged or mismatched checkpoint.
  """
  if isinstance(config, str):
    config = configs.get_config(config)
  music_vae_config = configs.get_music_vae_config(config)
  with startup_lib.span('checkpoint check'):
    prefix = checkpoints.resolve_checkpoint(checkpoint_file).prefix
    checkpoints.check_checkpoint_fits_config(config, prefix)
  try:
    with startup_lib.span('checkpoint check'):
      fingerprint = checkpoints.checkpoint_fingerprint(prefix)
    with (startup_lib.span('MusicVAE graph + restore'),
          checkpoints.quiet_graph_building()):
      trained_model = TrainedModel(
          music_vae_config, batch_size=batch_size,
          checkpoint_dir_or_path=prefix)
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise checkpoints.damaged_checkpoint_error(prefix, e) from None
  logging.info('MusicVAE %s encodes and decodes on %s.',
               config.music_vae_config, startup_lib.device_name())
  return FrozenMusicVAE(config.music_vae_config, trained_model._config,  # pylint: disable=protected-access
                        prefix, fingerprint, trained_model)
