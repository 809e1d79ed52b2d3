"""`Personalizer`: the one pipeline from a person's MIDI to a saved MidiMe run.

  MIDI -> chunks (time order, each with source and start) -> MusicVAE mu
       -> MidiMe training -> one run folder (run_lib)

`midime_train`, `midime_generate`, `midime_evaluate` and the notebook are thin
shells over this class:

  p = Personalizer.from_checkpoint('cat-mel_2bar_small', 'path/to/ckpt')
  p.train('my_tune.mid')             # chunk, encode (mu), train MidiMe
  p.sample(5)                        # NoteSequences that sound like the tune
  p.reconstruct()                    # the tune's chunks, in order, via MidiMe
  p.save('my_midime')                # a run folder midime_generate reads
  p = Personalizer.load('my_midime', 'path/to/ckpt')

Steering (saved with the run by `save`):

  p.compute_attribute_vectors()      # from MusicVAE's prior (or a folder)
  p.sample(5, attributes={'note_density': 1.5})
  p.constrain(['key:C', 'density:2-4'])  # a rule constraint, ~5 s
  p.sample(5)                        # obeys the rules; constrain=False not
"""

import dataclasses
import os
import time

import note_seq
import numpy as np
from absl import logging

from midime_magenta import attributes_lib
from midime_magenta import chunking_lib
from midime_magenta import midi_io
from midime_magenta import checkpoint_lib
from midime_magenta import configs
from midime_magenta import errors
from midime_magenta import midime_model
from midime_magenta import music_vae_lib
from midime_magenta import progress_lib
from midime_magenta import run_lib


def _as_list(inputs):
  if isinstance(inputs, (str, os.PathLike, note_seq.NoteSequence)):
    return [inputs]
  return list(inputs)


class Personalizer:
  """A frozen MusicVAE and a MidiMe trained on a person's own music.

  Args:
    config: a `configs.MidiMeConfig`, a registered name or a config file;
      None to take the checkpoint's own (Magenta.js checkpoints and known
      names carry one; see `music_vae_lib.resolve_config`).
    checkpoint_file: the MusicVAE checkpoint (anything
      `music_vae_lib.load_music_vae` takes); found (fetched, converted) now,
      restored on first use.
    music_vae: an already restored `music_vae_lib.FrozenMusicVAE` instead.
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
    self.music_vae_config = (
        music_vae.config if music_vae is not None else
        configs.get_music_vae_config(self.config))
    self.midime = None
    self.training_data = None
    self.history = None
    self.inputs = []  # The ChunkedInput of each sequence trained on.
    self.seconds = {}  # Time per phase of the last `train`.
    self.encoded = None  # The manifest of a midime_encode output trained on.
    self.attributes = None  # attributes_lib.AttributeVectors
    self.constraint = None  # constraints_lib.LatentConstraint

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
          self.config, self.checkpoint_file,
          batch_size=self.batch_size)
    return self._music_vae

  @property
  def chunk_bars(self):
    return configs.chunk_steps(self.music_vae_config) // 16

  # -- inputs ----------------------------------------------------------------

  def _sequences(self, item, skipped):
    """(source, NoteSequence) pairs for one input item; the files of a
    folder or glob that cannot be read go to `skipped` instead."""
    if isinstance(item, note_seq.NoteSequence):
      return [(item.filename or 'NoteSequence', item)]
    files = midi_io.find_input_files(os.fspath(item), skipped)
    pairs = []
    for path in files:
      try:
        pairs.extend(midi_io.read_note_sequences(path))
      except midi_io.InputError as e:
        if len(files) == 1:
          raise
        skipped.append((path, str(e)))  # In a folder: skip it, say why.
    return pairs

  def chunk(self, inputs, instrument=None, program=None, trio_tracks=None):
    """Cuts inputs into chunks; returns a `ChunkedInput` per sequence.

    Args:
      inputs: NoteSequences, MIDI/TFRecord paths, folders, globs, or a
        comma-separated string of them.
      instrument, program: choose the melody track (melody configs).

    Raises:
      midi_io.InputError: for an input that names nothing, or a single
        file that cannot be used. Among several, such a file is skipped:
        it gets a `ChunkedInput` with no chunks and the reason, and a log
        line.
    """
    skipped = []
    pairs = []
    for item in _as_list(inputs):
      pairs.extend(self._sequences(item, skipped))
    chunked = []
    for source, ns in pairs:
      try:
        result = chunking_lib.chunk_note_sequence(
            ns, self.music_vae_config, source, instrument, program,
            trio_tracks)
      except midi_io.InputError as e:
        if len(pairs) + len(skipped) == 1 or instrument is not None or (
            program is not None) or trio_tracks:
          raise
        skipped.append((source, str(e)))
        continue
      chunked.append(result)
      _log_chunked(result)
    for path, why in skipped:
      result = chunking_lib.ChunkedInput(
          source=path, starts=[], inputs=[], outputs=[], controls=[],
          lengths=[], reason=f'skipped: {why}')
      chunked.append(result)
      _log_chunked(result)
    return chunked

  def chunk_or_raise(self, inputs, instrument=None, program=None,
                     trio_tracks=None):
    """`chunk`, refusing inputs that give no chunk at all.

    Raises:
      chunking_lib.NoChunksError: saying why, per input (first three).
    """
    chunked = self.chunk(inputs, instrument, program, trio_tracks)
    if not any(c.num_chunks for c in chunked):
      if len(chunked) == 1:
        raise chunking_lib.NoChunksError(
            f'{chunked[0].source!r} gave no {self.chunk_bars}-bar chunks: '
            f'{chunked[0].reason}.')
      reasons = sorted({c.reason for c in chunked})
      raise chunking_lib.NoChunksError(
          f'None of the {len(chunked)} inputs gave a {self.chunk_bars}-bar '
          f'chunk ({"; ".join(reasons[:3])}).')
    return chunked

  def encode(self, chunked):
    """Encodes the chunks of `chunk(...)` results to mu: [n, z_size]."""
    inputs = [x for c in chunked for x in c.inputs]
    lengths = [x for c in chunked for x in c.lengths]
    controls = [x for c in chunked for x in c.controls]
    return self.music_vae.encode_tensors(inputs, lengths, controls)

  # -- training --------------------------------------------------------------

  def train(self, inputs=None, z=None, epochs=None, callbacks=(), seed=None,
            hparams=None, instrument=None, program=None, progress=True,
            trio_tracks=None, encoded=None):
    """Trains a fresh MidiMe on the inputs' chunks (or on given latents).

    Args:
      inputs: what `chunk` takes. Ignored when `z` or `encoded` is given.
      z: MusicVAE latents [n, z_size] to train on directly.
      encoded: a midime_encode output folder (encoded_lib): its chunks'
        mu, in the order `inputs` would give them; it must have been made
        with this checkpoint.
      epochs: defaults to the config's.
      callbacks: see `MidiMe.train`.
      seed: makes initialisation, training noise and mini-batch order
        repeatable.
      hparams: overrides the config's `HParams`.
      instrument, program: choose the melody track (melody configs).
      trio_tracks: override the trio's track choice (see `chunk`).
      progress: show a progress bar (terminal, notebook) or log lines.

    Returns:
      The loss history of `MidiMe.train`.

    Raises:
      chunking_lib.NoChunksError: when the inputs give no chunk (the message
        says why).
    """
    self.seconds = {}
    self.encoded = None
    if encoded is not None:
      from midime_magenta import encoded_lib  # pylint: disable=g-import-not-at-top
      started = time.perf_counter()
      self.inputs = []
      self.training_data, self.encoded = encoded_lib.load_training_data(
          encoded, self.music_vae_identity)
      if not len(self.training_data.z):  # pylint: disable=g-explicit-length-test
        raise chunking_lib.NoChunksError(
            f'The encoding in {encoded} holds no chunks (see its skipped '
            'list); encode other MIDI.')
      logging.info('%d chunks from the encoding in %s.',
                   len(self.training_data.z), encoded)
      self.seconds['reading'] = time.perf_counter() - started
    elif z is None:
      started = time.perf_counter()
      self.inputs = self.chunk_or_raise(inputs, instrument, program,
                                        trio_tracks)
      num_chunks = sum(c.num_chunks for c in self.inputs)
      logging.info('%d chunks from %d inputs.', num_chunks, len(self.inputs))
      self.seconds['chunking'] = time.perf_counter() - started
      if self._music_vae is None:  # Build the graph no larger than needed.
        self.batch_size = max(1, min(self.batch_size, num_chunks))
      started = time.perf_counter()
      self.music_vae  # pylint: disable=pointless-statement
      self.seconds['restore'] = time.perf_counter() - started
      started = time.perf_counter()
      z_input = self.encode(self.inputs)
      self.seconds['encoding'] = time.perf_counter() - started
      self.training_data = run_lib.TrainingData(
          z=z_input,
          chunks=np.stack([x for c in self.inputs for x in c.outputs]),
          sources=[c.source for c in self.inputs for _ in c.starts],
          starts=[s for c in self.inputs for s in c.starts])
    else:
      self.inputs = []
      self.training_data = run_lib.TrainingData(
          z=np.asarray(z, np.float32), sources=['latents'] * len(z),
          starts=[0.0] * len(z))
    hparams = hparams or self.config.hparams
    if (self.midime is not None and self.midime.hparams == hparams and
        self.midime.input_size == self.music_vae.z_size):
      self.midime.reset(seed)  # Same shapes: keep the traced training step.
    else:
      self.midime = midime_model.MidiMe(
          self.music_vae.z_size, hparams, music_vae=self.music_vae_identity,
          seed=seed)
    epochs = epochs or hparams.num_epochs
    hooks = list(callbacks)
    if progress:
      hooks.append(progress_lib.TrainingProgress(epochs))
    self.history = self.midime.train(self.training_data.z, epochs=epochs,
                                     callbacks=hooks, shuffle_seed=seed)
    self.seconds['training'] = self.history['seconds']
    if not self.history['loss']:
      raise KeyboardInterrupt  # Interrupted before one epoch: nothing to keep.
    if self.history['interrupted']:
      logging.warning('Interrupted after %d of %d epochs: keeping the model '
                      'trained so far.', len(self.history['loss']), epochs)
    return self.history

  @property
  def music_vae_identity(self):
    return run_lib.describe_music_vae(
        self.music_vae.config_name, self.music_vae.z_size,
        self.music_vae.fingerprint)

  def summary(self):
    """What this run was trained on and how it went (JSON-able)."""
    history = self.history or {}
    summary = {
        'config': self.config.name,
        'music_vae': self.music_vae_identity,
        'checkpoint': self.music_vae.checkpoint,
        'inputs': [{'source': c.source, 'chunks': c.num_chunks,
                    'reason': c.reason, 'warning': c.warning,
                    'instrument': c.instrument,
                    'trio_tracks': (None if c.trio_tracks is None else
                                    dataclasses.asdict(c.trio_tracks)),
                    'notes_out_of_range': c.notes_out_of_range}
                   for c in self.inputs],
        'num_chunks': 0 if self.training_data is None else len(
            self.training_data.z),
        'encoded': None if not self.encoded else {
            k: self.encoded.get(k) for k in (
                'inputs', 'files', 'chunks', 'skipped', 'shards')},
        'hparams': self._trained().hparams.to_dict(),
        'epochs': len(history.get('loss', [])),
        'interrupted': history.get('interrupted', False),
        'device': history.get('device'),
        'seconds': dict(self.seconds),
    }
    if history.get('loss'):
      summary['final_loss'] = {
          'total': history['loss'][-1],
          'reconstruction': history['reconstruction_loss'][-1],
          'kl': history['kl_loss'][-1]}
    return summary

  def _trained(self):
    if self.midime is None:
      raise errors.UsageError('This Personalizer has no MidiMe yet; call '
                              'train() or load() first.')
    return self.midime

  # -- generating ------------------------------------------------------------

  def decode(self, z, temperature=0.5, attributes=None, constrain=True):
    """Decodes MusicVAE latents [n, z_size] to n NoteSequences, steered.

    Args:
      attributes: {attribute name: strength}: moves every latent along
        those attribute vectors first (`compute_attribute_vectors`; from
        MusicVAE's prior if none were computed).
      constrain: apply the rule constraint, when there is one (`constrain`).
    """
    return self.music_vae.decode(self.steer(z, attributes, constrain),
                                 temperature)

  def steer(self, z, attributes=None, constrain=True):
    """z moved by attribute vectors, then into the rule constraint's region."""
    z = np.asarray(z, np.float32)
    if attributes:
      z = self.attribute_vectors().apply(z, attributes)
    if constrain and self.constraint is not None:
      z = self.constraint.apply(z, label=self._rule_checker(
          self.constraint.rules))
    return z

  def sample(self, n=5, temperature=0.5, seed=None, variation=1.0,
             attributes=None, constrain=True):
    """n NoteSequences sampled from MidiMe's small latent space.

    `variation` scales the small latents (see `MidiMe.sample`): below 1
    blends near the centre, above 1 lands nearer particular input chunks.
    `attributes` and `constrain` steer them (see `decode`).
    """
    return self.decode(self._trained().sample(n, seed, variation),
                       temperature, attributes, constrain)

  def piece(self, chunks=8, step_size=0.3, temperature=0.5, seed=None,
            variation=1.0, attributes=None, constrain=True):
    """One NoteSequence of `chunks` chunks along a smooth walk in MidiMe's
    space (`MidiMe.walk`), each in its own slot: a whole piece (8 chunks of
    a 2-bar model is 16 bars). `step_size` is how far each chunk moves on."""
    z = self._trained().walk(chunks, step_size, seed, variation)
    return chunking_lib.concatenate_in_slots(
        self.decode(z, temperature, attributes, constrain),
        self.music_vae.chunk_seconds)

  def sample_prior(self, n=5, temperature=0.5, seed=None, attributes=None,
                   constrain=True):
    """n plain MusicVAE samples (prior N(0, I)), for comparison; steered
    like any latents when asked (`decode`)."""
    return self.decode(self.music_vae.prior_latents(n, seed), temperature,
                       attributes, constrain)

  # -- steering --------------------------------------------------------------

  def _rule_checker(self, rules):
    """fn(latents) -> bool [n]: decoded near argmax, do they obey `rules`?"""
    from midime_magenta import constraints_lib  # pylint: disable=g-import-not-at-top
    bars = self.chunk_bars

    def check(z):
      return np.array([constraints_lib.satisfies(ns, rules, bars) for ns in
                       self.music_vae.decode(
                           z, constraints_lib.LABEL_TEMPERATURE)], bool)
    return check

  def compute_attribute_vectors(self, inputs=None, seed=0,
                                draws=attributes_lib.PRIOR_SAMPLES):
    """Attribute vectors (attributes_lib) from chunks, kept and saved.

    Args:
      inputs: what `chunk` takes (a folder of MIDI, ...): the MusicVAE mu of
        its chunks and the attributes of the chunks' notes. None: 1024 draws
        from MusicVAE's prior, decoded near argmax.
      seed: for the prior's draws.
      draws: how many prior draws (1024; fewer is faster and noisier).

    Returns:
      The `attributes_lib.AttributeVectors` (also `self.attributes`).

    Raises:
      attributes_lib.AttributeVectorError: too few or too uniform chunks.
    """
    names = attributes_lib.names_for(self.music_vae_config)
    bars = self.chunk_bars
    if inputs is None:
      z = self.music_vae.prior_latents(draws, seed)
      sequences = self.music_vae.decode(z, attributes_lib.PRIOR_TEMPERATURE)
      source = 'prior'
    else:
      chunked = self.chunk_or_raise(inputs)
      z = self.encode(chunked)
      sequences = self.music_vae.config.data_converter.from_tensors(
          [x for c in chunked for x in c.outputs])
      source = ', '.join(sorted({c.source for c in chunked if c.num_chunks}))
      source = source if len(source) < 200 else source[:197] + '...'
    self.attributes = attributes_lib.quartile_vectors(z, sequences, names,
                                                      bars, source)
    logging.info('Attribute vectors from %d chunks of %s: %s.',
                 self.attributes.count, source, self.attributes.describe())
    return self.attributes

  def attribute_vectors(self):
    """The attribute vectors in use: this run's, else MusicVAE's prior's."""
    if self.attributes is None:
      self.compute_attribute_vectors()
    return self.attributes

  def constrain(self, rules, iterations=None, seed=None, draws=None,
                measure_draws=256):
    """Trains a rule constraint (constraints_lib), kept and saved.

    Learns from 1024 draws of MusicVAE's prior and, when there is a MidiMe,
    1024 of its samples; then measures it on fresh draws of each.

    Args:
      rules: rule specs ('key:C', 'density:2-4', 'pitch:60-84') or `Rule`s.
      iterations: Adam steps per round (default 100).
      seed: for the draws and the networks.
      draws: latents drawn from each source to learn from (default 1024).
      measure_draws: fresh latents from each source it is measured on.

    Returns:
      The constraint's report: {'prior': ..., 'midime': ...} of
      `constraints_lib.measure` at temperature 0.5, and the training rounds.

    Raises:
      constraints_lib.RuleError: for a rule that cannot be read or does not
        fit the model.
    """
    from midime_magenta import constraints_lib  # pylint: disable=g-import-not-at-top
    rules = constraints_lib.parse_rules(
        [r.spec if isinstance(r, constraints_lib.Rule) else r for r in rules],
        self.music_vae_config)
    rng = np.random.default_rng(seed)
    size = self.music_vae.z_size
    n = draws or constraints_lib.DRAWS_PER_SOURCE

    def draw(count):
      groups = {'prior': self.music_vae.prior_latents(count, rng)}
      if self.midime is not None:
        groups['midime'] = self.midime.sample(count, int(rng.integers(2**31)))
      return groups
    constraint = constraints_lib.LatentConstraint(
        size, rules, seed=int(rng.integers(2**31)))
    check = self._rule_checker(rules)
    with progress_lib.progress_bar(constraints_lib.ROUNDS, 'Training the '
                                   'constraint', 'rounds') as bar:
      training = constraint.train(
          np.concatenate(list(draw(n).values())), check,
          iterations or constraints_lib.DEFAULT_ITERATIONS,
          seed=int(rng.integers(2**31)), on_round=lambda *_: bar.update(1))
    report = {'rules': constraint.specs, 'training': training}
    for group, z in draw(measure_draws).items():
      report[group] = constraints_lib.measure(
          rules, self.music_vae.decode(z, 0.5),
          self.music_vae.decode(constraint.apply(z, check), 0.5),
          self.music_vae.chunk_steps)
    constraint.report = report
    self.constraint = constraint
    return report

  def latents_of(self, inputs=None):
    """MusicVAE mu of the inputs' chunks in time order; the training chunks
    when `inputs` is None."""
    if inputs is not None:
      return self.encode(self.chunk_or_raise(inputs))
    if self.training_data is None:
      raise errors.UsageError('Pass inputs, or train or load a run first.')
    return self.training_data.z

  def reconstruct(self, inputs=None, temperature=0.5, limit=None):
    """Chunks through MusicVAE -> MidiMe -> MusicVAE, in time order.

    With no inputs, reconstructs the chunks MidiMe was trained on.
    """
    z = self.latents_of(inputs)[:limit]
    return self.decode(self._trained().reconstruct(z), temperature)

  def interpolation_latents(self, start, end, steps=5):
    """MusicVAE latents [steps, z_size] between the first chunks of two
    inputs, interpolated in MidiMe's small space."""
    ends = [self.latents_of(x)[0] for x in (start, end)]
    return self._trained().interpolate(ends[0], ends[1], steps)

  def interpolate(self, start, end, steps=5, temperature=0.5):
    """Interpolates in MidiMe's space between the first chunks of two inputs."""
    return self.decode(self.interpolation_latents(start, end, steps),
                       temperature)

  def traversal_latents(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
                        base=None):
    """MusicVAE latents along one MidiMe dimension (a demo 'slider').

    Args:
      dimension: 0-based index into MidiMe's latent space.
      values: the positions to decode along that dimension.
      base: the small latent the others stay at; zeros (the prior mean).
    """
    midime = self._trained()
    size = midime.hparams.latent_size
    if not 0 <= dimension < size:
      raise errors.UsageError(
          f'dimension must be in [0, {size}), got {dimension}.')
    small = np.tile(np.zeros(size, np.float32) if base is None
                    else np.asarray(base, np.float32), (len(values), 1))
    small[:, dimension] = values
    return midime.decode(small)

  def traverse(self, dimension, values=(-2.0, -1.0, 0.0, 1.0, 2.0),
               temperature=0.5, base=None):
    """Decodes `traversal_latents`: one dimension moved, others at `base`."""
    return self.decode(self.traversal_latents(dimension, values, base),
                       temperature)

  # -- saving ----------------------------------------------------------------

  def save(self, run_dir, overwrite=False):
    """Saves a run folder (run_lib), the same a `midime_train` run is.

    Returns:
      The path of its midime.json.
    """
    return run_lib.save_run(run_dir, self._trained(), self.training_data,
                            self.history, self.summary(), overwrite=overwrite,
                            extras=self._extras())

  def _extras(self):
    from midime_magenta import constraints_lib  # pylint: disable=g-import-not-at-top
    extras = {}
    if self.attributes is not None:
      extras['attributes'] = attributes_lib.to_saved(self.attributes)
    if self.constraint is not None:
      extras['constraint'] = constraints_lib.to_saved(self.constraint)
    return extras

  @classmethod
  def load(cls, run_dir, checkpoint_file, config=None, batch_size=64):
    """Loads a run folder with the MusicVAE checkpoint it was trained on.

    Args:
      config: the MidiMe config (name or file); the run's own when None.

    Raises:
      run_lib.ModelFileError: when there is no run or it is damaged.
      run_lib.ModelMismatchError: when `checkpoint_file` (or `config`) is
        not the MusicVAE the run was trained on.
    """
    info = run_lib.read_model_info(run_dir)
    trained_on = info['music_vae'].get('config')
    resolved = checkpoint_lib.resolve_checkpoint(checkpoint_file)
    checkpoint_file = resolved.prefix
    if isinstance(config, str):
      config = configs.get_config(config)
    elif config is None:
      config = resolved.midime_config or configs.get_config(
          resolved.music_vae_config or trained_on)
    if config.music_vae_config != trained_on:
      raise run_lib.ModelMismatchError(
          f'The MidiMe model in {run_dir} was trained for config '
          f'{trained_on}, not {config.music_vae_config}; pass '
          f'--config={trained_on}.')
    from midime_magenta import constraints_lib  # pylint: disable=g-import-not-at-top
    personalizer = cls(config, checkpoint_file, batch_size=batch_size)
    personalizer.midime, personalizer.training_data, meta = run_lib.load_run(
        run_dir, expect_music_vae=personalizer.music_vae_identity)
    size = personalizer.music_vae.z_size
    personalizer.attributes = attributes_lib.load(run_dir, meta, size)
    personalizer.constraint = constraints_lib.load(run_dir, meta, size)
    return personalizer


def _log_chunked(result):
  """One log line per input: what it gave, or why it gave nothing."""
  source = repr(result.source)  # Quoted: a name cannot forge a log line.
  if result.num_chunks:
    track = ('' if result.instrument is None
             else f' (melody from instrument {result.instrument})')
    if result.trio_tracks is not None:
      track = f' ({result.trio_tracks.describe()})' 
    logging.info('%s: %d chunks%s.', source, result.num_chunks, track)
  else:
    logging.warning('%s: no chunks, because %s.', source, result.reason)
  if result.warning:
    logging.warning('%s: %s.', source, result.warning)
  if result.notes_out_of_range:
    logging.warning('%s: dropped %d notes outside the model\'s pitch range.',
                    source, result.notes_out_of_range)
