"""`Personalizer`: a frozen MusicVAE and a MidiMe, as `TrainedModel` is over a MusicVAE.

  p = Personalizer.from_checkpoint('cat-mel_2bar_small', 'path/to/ckpt')
  p.train('my_tune.mid')             # chunk, encode (mu), train MidiMe
  p.sample(5, attributes={'note_density': 1.5})   # NoteSequences, steered
  p.save('my_midime')                # a run folder midime_generate reads
"""

import os

import note_seq
import numpy as np
from absl import logging

from midime_magenta import chunking_lib
from midime_magenta import configs
from midime_magenta import errors
from midime_magenta import midime_hparams
from midime_magenta import midime_model
from midime_magenta import music_vae_lib
from midime_magenta import novelty_lib
from midime_magenta import progress_lib
from midime_magenta import run_lib
from midime_magenta import startup_lib
from midime_magenta import steering
from midime_magenta import tracks_lib

MAX_DRAWS = 100_000  # The most sequences a call draws (as --num_outputs).
redraw_rng = novelty_lib.redraw_rng
# For front ends: a tune's track menu, and the tracks `train` takes from it.
track_menu, tracks_for = tracks_lib.track_menu, tracks_lib.tracks_for
_whole, _kind, _PATH = errors.whole, errors.of_kind, (str, os.PathLike)
_ARGUMENTS = {
    'n': _whole(0, MAX_DRAWS, False), 'chunks': _whole(1, MAX_DRAWS, False),
    'limit': _whole(0, MAX_DRAWS), 'draws': _whole(1, MAX_DRAWS),
    'measure_draws': _whole(1, MAX_DRAWS), 'iterations': _whole(1, MAX_DRAWS),
    'epochs': _whole(1, midime_hparams.MAX_EPOCHS),
    'seed': (_seed := _whole(0, 2**63 - 1)), 'untrained_seed': _seed,
    'batch_size': _whole(1, 65536, False),
    'temperature': lambda n, v, _: errors.check_real(n, v, 0, float('inf')),
    'step_size': lambda n, v, _: errors.check_real(n, v, 0, 1, True),
    'run_dir': lambda n, v, _: errors.check_path(n, v),
    'checkpoint_file': _kind(_PATH, 'a checkpoint path or name'),
    'config': _kind((*_PATH, configs.MidiMeConfig), 'a config or its name'),
    'music_vae': _kind(music_vae_lib.FrozenMusicVAE, 'a FrozenMusicVAE'),
    'hparams': _kind(midime_hparams.HParams, 'an HParams'),
    'training_data': _kind(run_lib.TrainingData, 'a run_lib.TrainingData'),
    'encoding': _kind(dict, "an encoding's manifest"),
    'attributes': steering.check_strengths,
    'points': lambda n, v, p: midime_model.check_latents(
        v, p._trained().hparams.latent_size, n),  # pylint: disable=protected-access
    'callbacks': lambda n, v, _: errors.as_list(n, v),
    'rules': lambda n, v, _: [v] if isinstance(v, str) else errors.as_list(n, v),
    'sequences': lambda n, v, _: [_kind(note_seq.NoteSequence, 'NoteSequences')(
        n, ns, _) for ns in errors.as_list(n, v)],
}


@errors.checked_arguments(_ARGUMENTS)
class Personalizer:
  """A frozen MusicVAE and a MidiMe trained on a person's own music.

  Args:
    config: a `configs.MidiMeConfig`, its name or file (None: the checkpoint's).
    checkpoint_file: the MusicVAE checkpoint, restored on first use; or
      `music_vae`, a restored `music_vae_lib.FrozenMusicVAE`.
    batch_size: the MusicVAE graph's batch size.
  """

  def __init__(self, config, checkpoint_file=None, music_vae=None,
               batch_size=64):
    if checkpoint_file is not None and music_vae is None:
      config, checkpoint_file = music_vae_lib.resolve_config(
          config, checkpoint_file)
    self.config = (configs.get_config(config) if isinstance(config, str)
                   else config)
    self.checkpoint_file = checkpoint_file
    self.batch_size = batch_size
    self._music_vae = music_vae
    self.music_vae_config = configs.get_music_vae_config(
        self.config) if music_vae is None else music_vae.config
    self.midime = self.training_data = self.history = None
    self.inputs = []  # The ChunkedInput of each sequence trained on.
    self.seconds = {}  # Time per phase of the last `train`.
    self.encoded = None  # The manifest of the encoding trained on.
    self.attributes = None  # steering.AttributeVectors
    self.constraint = None  # steering.LatentConstraint
    self._copy_check = None  # novelty_lib.CopyCheck of the chunks.
    self.voicing = tracks_lib.Voicing()

  @classmethod
  def from_checkpoint(cls, config, checkpoint_file, batch_size=64):
    """Restores the MusicVAE now (so a wrong checkpoint fails here)."""
    personalizer = cls(config, checkpoint_file, batch_size=batch_size)
    personalizer.music_vae  # pylint: disable=pointless-statement
    return personalizer

  @property
  def music_vae(self):
    """The frozen MusicVAE, restored on first use."""
    if self._music_vae is None:
      self._music_vae = music_vae_lib.load_music_vae(
          self.config, self.checkpoint_file, batch_size=self.batch_size)
    return self._music_vae

  @property
  def music_vae_identity(self):
    """What the run records of its MusicVAE (run_lib.describe_music_vae)."""
    return run_lib.describe_music_vae(
        self.music_vae.config_name, self.music_vae.z_size,
        self.music_vae.fingerprint)

  def chunk(self, inputs, instrument=None, program=None, trio_tracks=None,
            allow_empty=True, hop_bars=None):
    """`chunking_lib.chunk_inputs` with this MusicVAE's converter."""
    return chunking_lib.chunk_inputs(inputs, self.music_vae_config,
                                     instrument, program, trio_tracks,
                                     allow_empty, hop_bars)

  def encode(self, chunked):
    """MusicVAE's mu of the chunks of `chunk(...)`: [n, z_size]."""
    return chunking_lib.encode_chunks(self.music_vae, chunked)

  def train(self, inputs=None, z=None, epochs=None, callbacks=(), seed=None,
            hparams=None, instrument=None, program=None, progress=True,
            trio_tracks=None, training_data=None, encoding=None,
            hop_bars=None):
    """Trains a fresh MidiMe on the inputs' chunks; returns the history.

    Args:
      inputs: what `chunk` takes (with `z`, what it gave and their mu); or `z`,
        latents [n, z_size]; or `training_data` from
        `encoding.load_training_data` (its manifest as `encoding`). epochs,
        hparams: override the config's. callbacks: see `MidiMe.train`. seed:
        repeatable training. progress: a bar or log lines.

    Raises:
      chunking_lib.NoChunksError: the inputs give no chunk (it says why).
    """
    self.seconds, self.encoded, self.inputs = {}, encoding, []
    self.voicing = tracks_lib.Voicing()
    before = startup_lib.totals()  # Each phase is a span; see self.seconds.
    if training_data is not None:
      self.training_data = training_data
    elif z is None or inputs is not None:
      with startup_lib.span('chunking'):
        self.inputs = self.chunk(inputs, instrument, program, trio_tracks,
                                 allow_empty=False, hop_bars=hop_bars)
        num_chunks = sum(c.num_chunks for c in self.inputs)
        logging.info('%d chunks from %d inputs.', num_chunks, len(self.inputs))
        self.voice_as(self.inputs)
      if self._music_vae is None:  # Build the graph no larger than needed.
        self.batch_size = max(1, min(self.batch_size, num_chunks))
      self.music_vae  # pylint: disable=pointless-statement
      with startup_lib.span('encoding'):
        z = (self.encode(self.inputs) if z is None
             else np.asarray(z, np.float32))
      if len(z) != num_chunks:
        raise errors.UsageError(f'z holds {len(z)} latents for the inputs\' '
                                f'{num_chunks} chunks; give chunk()\'s mu.')
      self.training_data = run_lib.TrainingData(
          z=z, chunks=np.stack([x for c in self.inputs for x in c.outputs]),
          sources=[c.source for c in self.inputs for _ in c.starts],
          starts=[s for c in self.inputs for s in c.starts])
    else:
      self.training_data = run_lib.TrainingData(
          z=np.asarray(z, np.float32), sources=['latents'] * len(z),
          starts=[0.0] * len(z))
    self._copy_check = None
    hparams = hparams or self.config.hparams
    with startup_lib.span('MidiMe set-up'):
      if (self.midime is not None and self.midime.hparams == hparams and
          self.midime.input_size == self.music_vae.z_size):
        self.midime.reset(seed)  # Same shapes: keep the traced training step.
      else:
        self.midime = midime_model.MidiMe(
            self.music_vae.z_size, hparams, music_vae=self.music_vae_identity,
            seed=seed)
    epochs = epochs or hparams.num_epochs
    hooks = [*callbacks, *([progress_lib.TrainingProgress(epochs)]
                           if progress else [])]
    with startup_lib.span('training'):
      self.history = self.midime.train(self.training_data.z, epochs=epochs,
                                       callbacks=hooks, shuffle_seed=seed)
    self.seconds = startup_lib.since(before)
    if not self.history['loss']:
      raise KeyboardInterrupt  # Interrupted before one epoch: nothing to keep.
    if self.history['interrupted']:
      logging.warning('Interrupted after %d of %d epochs: keeping the model '
                      'trained so far.', len(self.history['loss']), epochs)
    return self.history

  def _trained(self):  # pylint: disable=missing-function-docstring
    if self.midime is None:
      raise errors.UsageError('This Personalizer has no MidiMe yet; call '
                              'train() or load() first.')
    return self.midime

  def decode(self, z, temperature=0.5, attributes=None, constrain=True):
    """Decodes latents [n, z_size] to NoteSequences, steered first (see `steer`)."""
    return self.music_vae.decode(self.steer(z, attributes, constrain),
                                 temperature)

  def steer(self, z, attributes=None, constrain=True):
    """z moved by attribute vectors, then into the rule constraint's region."""
    z = midime_model.check_latents(z, self.music_vae.z_size)
    if attributes:
      z = self.attribute_vectors().apply(z, attributes)
    if constrain and self.constraint is not None:
      z = self.constraint.apply(z, label=steering.rule_checker(
          self.music_vae, self.constraint.rules))
    return z

  def decode_points(self, points, temperature=0.5, attributes=None,
                    constrain=True):
    """Decodes MidiMe's small latents [n, latent_size], as `decode`."""
    return self.decode(self._trained().decode(points), temperature,
                       attributes, constrain)

  def copy_check(self):
    """`novelty_lib.check_for` the chunks trained on; None without them."""
    if self._copy_check is None:
      self._copy_check = novelty_lib.check_for(
          self.music_vae_config.data_converter,
          getattr(self.training_data, 'chunks', None))
    return self._copy_check

  def new_only(self, sequences, points, redraw, rng, temperature=0.5,
               attributes=None, constrain=True):
    """The sequences, with those that copy a trained chunk redrawn (`novelty_lib.renew`)."""
    return novelty_lib.renew(
        sequences, points, self.copy_check(),
        lambda p: self.decode_points(p, temperature, attributes, constrain),
        redraw, rng)[0]

  def _drawn(self, points, redraw, seed, temperature, attributes, constrain,
             allow_copies):
    sequences = self.decode_points(points, temperature, attributes, constrain)
    return sequences if allow_copies else self.new_only(
        sequences, points, redraw, redraw_rng(seed), temperature, attributes,
        constrain)

  def sample(self, n=5, temperature=0.5, seed=None, variation=1.0,
             attributes=None, constrain=True, allow_copies=False):
    """n steered NoteSequences from MidiMe's space; copies are redrawn unless `allow_copies`."""
    return self.voiced(self._drawn(
        self._trained().sample_points(n, seed, variation),
        novelty_lib.fresh_draws(variation), seed, temperature, attributes,
        constrain, allow_copies))

  def piece(self, chunks=8, step_size=0.3, temperature=0.5, seed=None,
            variation=1.0, attributes=None, constrain=True,
            allow_copies=False):
    """One NoteSequence of `chunks` chunks along a smooth walk in MidiMe's space."""
    chunking_lib.check_concat_length(chunks, 'A piece')
    sequences = self._drawn(
        self._trained().walk_points(chunks, step_size, seed, variation),
        novelty_lib.walk_steps(step_size, variation), seed, temperature,
        attributes, constrain, allow_copies)
    return self.voiced([self.joined(sequences)])[0]

  def sample_prior(self, n=5, temperature=0.5, seed=None, attributes=None,
                   constrain=True):
    """n plain MusicVAE samples (prior N(0, I)), steered as `decode`."""
    return self.voiced(self.decode(self.music_vae.prior_latents(n, seed),
                                   temperature, attributes, constrain))

  def voiced(self, sequences):
    """Decoded sequences in `self.voicing` (the input's tempo and programs)."""
    return [self.voicing.apply(ns) for ns in sequences]

  def latents_of(self, inputs=None):
    """MusicVAE mu of the inputs' chunks in time order (None: the training chunks)."""
    if inputs is not None:
      return self.encode(self.chunk(inputs, allow_empty=False))
    if self.training_data is None:
      raise errors.UsageError('Pass inputs, or train or load a run first.')
    return self.training_data.z

  def reconstruct(self, inputs=None, temperature=0.5, limit=None,
                  untrained_seed=None):
    """Chunks (None: trained on) through MidiMe, or an untrained one's seed."""
    z = self.latents_of(inputs)[:limit]
    return self.voiced(self.decode(
        self._trained().reconstruct(z) if untrained_seed is None else
        untrained_reconstruction(self, z, untrained_seed), temperature))

  def interpolation_latents(self, start, end, steps=5):
    """Latents [steps, z_size] between two inputs' first chunks, in MidiMe's space."""
    ends = [self.latents_of(x)[0] for x in (start, end)]
    return self._trained().interpolate(ends[0], ends[1], steps)

  def interpolate(self, start, end, steps=5, temperature=0.5):
    """Decodes `interpolation_latents`."""
    return self.voiced(self.decode(
        self.interpolation_latents(start, end, steps), temperature))

  def traverse(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
               temperature=0.5, base=None):
    """Decodes `MidiMe.traverse`: one small dimension moved (a demo slider)."""
    return self.voiced(self.decode(
        self._trained().traverse(dimension, values, base), temperature))

  def compute_attribute_vectors(self, inputs=None, seed=0,
                                draws=steering.PRIOR_SAMPLES):
    """`steering.compute_vectors`, kept and saved with the run."""
    self.attributes = steering.compute_vectors(self.music_vae, inputs,
                                                     seed, draws)
    return self.attributes

  def attribute_vectors(self):
    """The attribute vectors in use: this run's, else MusicVAE's prior's."""
    return self.attributes or self.compute_attribute_vectors()

  def constrain(self, rules, iterations=None, seed=None, draws=None,
                measure_draws=256):
    """Trains a rule constraint, kept with the run; returns its report."""
    self.constraint = steering.train_constraint(
        self.music_vae, self.midime, rules, iterations, seed, draws,
        measure_draws)
    return self.constraint.report

  def save(self, run_dir, overwrite=False):
    """Saves the run folder `midime_train` writes; returns its midime.json path."""
    extras = {kind: to_saved(value) for kind, value, to_saved in zip(
        run_lib.EXTRAS, (self.attributes, self.constraint),
        (steering.attributes_to_saved, steering.constraint_to_saved))
              if value is not None}
    with startup_lib.span('saving'):
      return run_lib.save_run(run_dir, self._trained(), self.training_data,
                              self.history, summary_of(self),
                              overwrite=overwrite, extras=extras)

  @classmethod
  def load(cls, run_dir, checkpoint_file, config=None, batch_size=64,
           music_vae=None):
    """Loads a run folder with the MusicVAE checkpoint it was trained on."""
    config, prefix, meta = _config_of_run(run_dir, checkpoint_file, config)
    p = cls(config, music_vae=music_vae, batch_size=batch_size)
    p.checkpoint_file = prefix  # Resolved by _config_of_run: not again.
    p.midime, p.training_data, _ = run_lib.load_run(
        run_dir, p.music_vae_identity, meta)
    p.attributes, p.constraint, p.voicing = _extras_of_run(
        run_dir, meta, p.music_vae.z_size)
    return p

  @property
  def kind(self):  # For front ends (the studio, midime_generate) as below.
    """What MusicVAE's converter cuts: 'melody', 'trio' or 'drums'."""
    return chunking_lib.converter_kind(self.music_vae_config)

  def joined(self, sequences):
    """Decoded chunks back to back, each in a slot of MusicVAE's chunk length."""
    return chunking_lib.concatenate_in_slots(sequences,
                                             self.music_vae.chunk_seconds)

  def voice_as(self, chunked):
    """Outputs in the tempo and programs of `chunk(...)`'s tracks."""
    self.voicing = tracks_lib.voicing_of(chunked)


def _config_of_run(run_dir, checkpoint_file, config):
  """(MidiMe config, checkpoint prefix, manifest) of a run, or ModelMismatchError."""
  checkpoint_file = errors.check_path('checkpoint_file', checkpoint_file,
                                      'a checkpoint path or name')
  meta = run_lib.read_model_info(run_dir)
  trained_on = meta['music_vae'].get('config')
  config, prefix = music_vae_lib.resolve_config(config, checkpoint_file,
                                                fallback=trained_on)
  if config.music_vae_config != trained_on:
    raise run_lib.ModelMismatchError(
        f'The MidiMe model in {run_dir} was trained for config '
        f'{trained_on}, not {config.music_vae_config}; load it with config '
        f'{trained_on}.')
  return config, prefix, meta


def _extras_of_run(run_dir, meta, z_size):
  """(attribute vectors, constraint, voicing) a run saved; each of the first
  two None when absent, the voicing MusicVAE's for runs before 0.2.0."""
  try:
    steered = tuple(
        from_saved(run_lib.load_extra(run_dir, meta, kind), meta.get(kind),
                   z_size)
        for kind, from_saved in zip(run_lib.EXTRAS, (
            steering.attributes_from_saved, steering.constraint_from_saved)))
  except ValueError as e:
    raise run_lib.damaged_error(run_dir, str(e)) from None
  try:
    return (*steered, tracks_lib.Voicing.from_dict(
        (meta.get('summary') or {}).get('voicing')))
  except (ValueError, TypeError, AttributeError) as e:
    raise run_lib.damaged_error(run_dir, f'its manifest holds {e}') from None


def untrained_reconstruction(personalizer, z, seed=0):
  """Latents `z` through an untrained MidiMe (the demo's "before")."""
  return midime_model.MidiMe(personalizer.music_vae.z_size,
                             personalizer.config.hparams,
                             seed=seed).reconstruct(z)


def run_music_vae(run_dir):
  """The name of the MusicVAE config run `run_dir` was trained on, or None
  when `run_dir` holds no run."""
  if not os.path.isfile(os.path.join(run_dir, run_lib.MODEL_FILE)):
    return None
  return run_lib.read_model_info(run_dir)['music_vae'].get('config')


def summary_of(personalizer):
  """What a run was trained on and how it went: its manifest's summary."""
  p, history = personalizer, personalizer.history or {}
  summary = {
      'config': p.config.name,
      'music_vae': p.music_vae_identity,
      'checkpoint': p.music_vae.checkpoint,
      'inputs': [c.summary() for c in p.inputs],
      'num_chunks': 0 if p.training_data is None else len(p.training_data.z),
      'encoded': None if not p.encoded else {
          k: p.encoded.get(k) for k in (
              'inputs', 'files', 'chunks', 'skipped', 'shards')},
      'hparams': p.midime.hparams.to_dict(),
      'epochs': len(history.get('loss', [])),
      'interrupted': history.get('interrupted', False),
      'device': history.get('device'),
      'seconds': dict(p.seconds),
      'voicing': p.voicing.to_dict(),
  }
  if history.get('loss'):
    summary['final_loss'] = {
        'total': history['loss'][-1],
        'reconstruction': history['reconstruction_loss'][-1],
        'kl': history['kl_loss'][-1]}
  return summary
