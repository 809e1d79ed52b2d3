"""`Personalizer`: a frozen MusicVAE and a MidiMe, for notebooks and scripts.

  p = Personalizer.from_checkpoint('cat-mel_2bar_small', 'path/to/ckpt')
  p.train(['my_tune.mid'])           # chunk, encode (mu), train MidiMe
  p.sample(5)                        # NoteSequences that sound like the tune
  p.reconstruct('my_tune.mid')       # MusicVAE -> MidiMe -> MusicVAE
  p.save('my_midime'); Personalizer.load('my_midime', 'path/to/ckpt')
"""

import os

import note_seq
import numpy as np

from midime_magenta import chunking_lib
from midime_magenta import configs
from midime_magenta import midime_model
from midime_magenta import music_vae_lib


def _as_list(inputs):
  if isinstance(inputs, (str, os.PathLike, note_seq.NoteSequence)):
    return [inputs]
  return list(inputs)


class Personalizer:
  """Ties a MusicVAE to a MidiMe trained on a person's own music.

  Args:
    music_vae: a `music_vae_lib.MusicVAE`.
    config: a `configs.MidiMeConfig`; the registered one for the MusicVAE's
      config name when omitted.
    midime: a trained `MidiMe`, or None until `train` is called.
  """

  def __init__(self, music_vae, config=None, midime=None):
    self.music_vae = music_vae
    self.config = config or configs.get_config(music_vae.config_name)
    self.midime = midime
    self.training_z = None
    self.training_chunks = []

  @classmethod
  def from_checkpoint(cls, config, checkpoint_file, batch_size=64):
    """Restores the MusicVAE for a MidiMe config name (or config file)."""
    config = configs.get_config(config) if isinstance(config, str) else config
    music_vae = music_vae_lib.load_music_vae(
        config.music_vae_config, checkpoint_file, batch_size=batch_size)
    return cls(music_vae, config)

  @property
  def music_vae_identity(self):
    return midime_model.describe_music_vae(
        self.music_vae.config_name, self.music_vae.z_size,
        self.music_vae.fingerprint)

  # -- inputs ----------------------------------------------------------------

  def chunk(self, inputs, instrument=None, program=None):
    """Cuts inputs into chunks; returns a `ChunkedInput` per sequence.

    Args:
      inputs: NoteSequences, MIDI/TFRecord paths, directories or globs.
      instrument, program: choose the melody track (melody configs).

    Raises:
      chunking_lib.InputError: for paths that cannot be read.
    """
    chunked = []
    for item in _as_list(inputs):
      if isinstance(item, note_seq.NoteSequence):
        sources = [(item.filename or 'NoteSequence', item)]
      else:
        sources = [s for path in chunking_lib.find_input_files(os.fspath(item))
                   for s in chunking_lib.read_note_sequences(path)]
      for source, ns in sources:
        chunked.append(chunking_lib.chunk_note_sequence(
            ns, self.music_vae.config, source, instrument, program))
    return chunked

  def encode(self, chunked):
    """Encodes the chunks of `chunk(...)` results to mu: [n, z_size]."""
    inputs = [x for c in chunked for x in c.inputs]
    lengths = [x for c in chunked for x in c.lengths]
    controls = [x for c in chunked for x in c.controls]
    return self.music_vae.encode_tensors(inputs, lengths, controls)

  def _chunks_or_raise(self, inputs, instrument=None, program=None):
    chunked = self.chunk(inputs, instrument, program)
    if not any(c.num_chunks for c in chunked):
      reasons = '; '.join(f'{os.path.basename(c.source)}: {c.reason}'
                          for c in chunked[:5])
      raise chunking_lib.NoChunksError(
          f'No {self.music_vae.chunk_steps // 16}-bar chunk could be cut from '
          f'the input ({reasons}).')
    return chunked

  # -- training --------------------------------------------------------------

  def train(self, inputs=None, z=None, epochs=None, callbacks=(), seed=None,
            hparams=None, instrument=None, program=None):
    """Trains a fresh MidiMe on the inputs' chunks (or on given latents).

    Args:
      inputs: what `chunk` takes. Ignored when `z` is given.
      z: MusicVAE latents [n, z_size] to train on directly.
      epochs: defaults to the config's.
      callbacks: see `MidiMe.train`.
      seed: makes initialisation and training noise repeatable.
      hparams: overrides the config's `HParams`.
      instrument, program: choose the melody track (melody configs).

    Returns:
      The loss history of `MidiMe.train`.

    Raises:
      chunking_lib.NoChunksError: when the inputs give no chunk (the message
        says why).
    """
    if z is None:
      self.training_chunks = self._chunks_or_raise(inputs, instrument, program)
      z = self.encode(self.training_chunks)
    self.training_z = np.asarray(z, np.float32)
    hparams = hparams or self.config.hparams
    self.midime = midime_model.MidiMe(
        self.music_vae.z_size, hparams, music_vae=self.music_vae_identity,
        seed=seed)
    return self.midime.train(self.training_z, epochs=epochs,
                             callbacks=callbacks)

  def _trained(self):
    if self.midime is None:
      raise ValueError('This Personalizer has no MidiMe yet; call train() or '
                       'load() first.')
    return self.midime

  # -- generating ------------------------------------------------------------

  def decode(self, z, temperature=0.5):
    return self.music_vae.decode(z, temperature)

  def sample(self, n=5, temperature=0.5, seed=None):
    """n NoteSequences sampled from MidiMe's small latent space."""
    return self.decode(self._trained().sample(n, seed), temperature)

  def sample_prior(self, n=5, temperature=0.5, seed=None):
    """n plain MusicVAE samples (prior N(0, I)), for comparison."""
    return self.music_vae.sample_prior(n, temperature,
                                       np.random.default_rng(seed))

  def reconstruct(self, inputs=None, temperature=0.5):
    """Chunks through MusicVAE -> MidiMe -> MusicVAE, one NoteSequence each.

    With no inputs, reconstructs the chunks MidiMe was trained on.
    """
    if inputs is None:
      if self.training_z is None:
        raise ValueError('Pass inputs, or train first.')
      z = self.training_z
    else:
      z = self.encode(self._chunks_or_raise(inputs))
    return self.decode(self._trained().reconstruct(z), temperature)

  def interpolate(self, start, end, steps=5, temperature=0.5):
    """Interpolates in MidiMe's space between the first chunks of two inputs."""
    ends = [self.encode(self._chunks_or_raise(x))[0] for x in (start, end)]
    return self.decode(self._trained().interpolate(ends[0], ends[1], steps),
                       temperature)

  def traverse(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
               temperature=0.5, base=None):
    """Moves one MidiMe dimension (a demo 'slider'), others held at `base`.

    Args:
      dimension: 0-based index into MidiMe's latent space.
      values: the positions to decode along that dimension.
      base: the small latent the others stay at; zeros (the prior mean).
    """
    midime = self._trained()
    size = midime.hparams.latent_size
    if not 0 <= dimension < size:
      raise ValueError(f'dimension must be in [0, {size}), got {dimension}.')
    small = np.tile(np.zeros(size, np.float32) if base is None
                    else np.asarray(base, np.float32), (len(values), 1))
    small[:, dimension] = values
    return self.decode(midime.decode(small), temperature)

  # -- saving ----------------------------------------------------------------

  def save(self, path):
    """Saves the MidiMe (see `MidiMe.save`); returns its JSON path."""
    return self._trained().save(path)

  @classmethod
  def load(cls, path, checkpoint_file, config=None, batch_size=64):
    """Loads a saved MidiMe with the MusicVAE checkpoint it was trained on.

    Raises:
      midime_model.ModelMismatchError: when `checkpoint_file` (or `config`)
        is not the MusicVAE the model was trained on.
    """
    config = config or midime_model.read_model_info(path)['music_vae'].get(
        'config')
    personalizer = cls.from_checkpoint(config, checkpoint_file, batch_size)
    personalizer.midime = midime_model.MidiMe.load(
        path, expect_music_vae=personalizer.music_vae_identity)
    return personalizer
