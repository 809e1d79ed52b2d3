"""What MidiMe Studio does, without the page: one `Session` per browser tab.

The MidiMe demo page, as functions that return music to show: every result is
written as MIDI, WAV (audio_lib) and a piano roll, with its notes as text, in
the input's tempo and programs (`tracks_lib.Voicing`). MusicVAEs are restored
once per server (`Studio`) and shared by the tabs; each tab trains its own
MidiMe (`Session`). studio.py lays this out in Gradio.
"""

import itertools
import os
import shutil
import threading
import time

import note_seq
import numpy as np
from absl import logging

from midime_magenta import attributes_lib
from midime_magenta import checkpoint_lib
from midime_magenta import audio_lib
from midime_magenta import chunking_lib
from midime_magenta import configs
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import midi_io
from midime_magenta import music_vae_lib
from midime_magenta import novelty_lib
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import plots_lib
from midime_magenta import steps
from midime_magenta import tracks_lib

CHUNKS_SHOWN = 5  # The demo plays 5 chunks back to back.
SLIDER_RANGE = 2.0  # MidiMe's sliders, in standard deviations of its prior.
MUSIC_VAE_SLIDERS = 4
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # A long MIDI file is well under 1 MB.
_NOTE_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')


class Shown:
  """One result on the page: MIDI, WAV and piano-roll files, and its notes."""

  def __init__(self, ns, folder, label):
    stem = os.path.join(folder, f'{label}-{next(_numbers):05d}')
    self.sequence = ns
    self.midi = file_util.write_atomically(
        stem + '.mid',
        lambda tmp: note_seq.sequence_proto_to_midi_file(ns, tmp))
    synths = []
    self.wav = file_util.write_atomically(
        stem + '.wav', lambda tmp: synths.append(
            audio_lib.render_wav(self.midi, tmp)))
    self.synthesizer = synths[0]
    self.roll = plots_lib.plot_piano_roll(ns, stem + '.png', title=label)
    self.notes = notes_text(ns)


_numbers = itertools.count()


def note_name(pitch):
  return f'{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}'


def notes_text(ns):
  """The notes, one per line: 'name pitch start end program' (drums: 'drum')."""
  return '\n'.join(
      f'{"drum" if n.is_drum else note_name(n.pitch)} {n.pitch} '
      f'{n.start_time:.3f} {n.end_time:.3f} '
      f'{"drum" if n.is_drum else n.program}'
      for n in sorted(ns.notes, key=lambda n: (n.start_time, n.pitch)))


class Studio:
  """What the tabs share: MusicVAEs by name, restored once, and a folder.

  Args:
    checkpoints: {name: checkpoint} (anything `--checkpoint_file` takes).
    folder: where results are written (served to the page).
    batch_size: MusicVAE's graph batch size.
  """

  def __init__(self, checkpoints, folder, batch_size=8):
    if not checkpoints:
      raise errors.UsageError('MidiMe Studio needs at least one checkpoint.')
    self.checkpoints = dict(checkpoints)
    self.folder = folder
    self.batch_size = batch_size
    self.synthesizer = audio_lib.synthesizer_name()
    self._music_vaes = {}
    self._lock = threading.Lock()
    # One training at a time on the server's cores; others wait their turn.
    self.training_lock = threading.Lock()

  def personalizer(self, name):
    """A fresh `Personalizer` on the shared, restored MusicVAE `name`."""
    with self._lock:
      if name not in self._music_vaes:
        config, prefix = _resolve(self.checkpoints[name])
        music_vae = music_vae_lib.load_music_vae(config, prefix,
                                                 self.batch_size)
        self._music_vaes[name] = (config, prefix, music_vae)
      config, prefix, music_vae = self._music_vaes[name]
    personalizer = personalizer_lib.Personalizer(config, music_vae=music_vae,
                                                 batch_size=self.batch_size)
    personalizer.checkpoint_file = prefix
    return personalizer


def _resolve(checkpoint):
  """(config, prefix) of a checkpoint; a bare TF checkpoint, which names no
  config, takes the one whose variables it holds."""
  try:
    return music_vae_lib.resolve_config(None, checkpoint)
  except configs.ConfigError:
    prefix = checkpoint_lib.resolve_checkpoint_prefix(checkpoint)
    guesses = checkpoint_lib.configs_matching(
        checkpoint_lib.checkpoint_variables(prefix))
    if not guesses:
      raise
    logging.info('%s: read as a %s checkpoint.', checkpoint, guesses[0])
    return music_vae_lib.resolve_config(guesses[0], checkpoint)


class Session:
  """One tab's work: its tune, its chunks, its MidiMe and what it last drew."""

  def __init__(self, studio, model):
    self.studio = studio
    self.model = model
    self.personalizer = studio.personalizer(model)
    self.kind = chunking_lib.converter_kind(
        self.personalizer.music_vae_config)
    self.folder = os.path.join(studio.folder, f'tab-{next(_numbers):05d}')
    os.makedirs(self.folder, exist_ok=True)
    self.tune = None
    self.tune_name = None
    self.tracks = {}
    self.chunked = None
    self._chunking = {}  # The track choice `chunk` cut with.
    self.points = None  # MidiMe's small latents last sampled,
    self.variation = 1.0  # at this scale.
    rng = np.random.default_rng(0)
    directions = rng.standard_normal((MUSIC_VAE_SLIDERS,
                                      self.personalizer.music_vae.z_size))
    self.directions = directions / np.linalg.norm(directions, axis=1,
                                                  keepdims=True)

  def show(self, ns, label):
    return Shown(ns, self.folder, label)

  def close(self):
    """Removes this tab's result files (its runs saved elsewhere stay)."""
    shutil.rmtree(self.folder, ignore_errors=True)

  def _voiced_chunks(self, raw, label):
    """Chunks MusicVAE decoded, back to back in their slots, voiced."""
    p = self.personalizer
    joined = chunking_lib.concatenate_in_slots(raw, p.music_vae.chunk_seconds)
    return self.show(p.voiced([joined])[0], label)

  # -- the input ----------------------------------------------------------------

  def open_tune(self, path, name=None):
    """Reads an uploaded or bundled MIDI file; returns the input shown."""
    size = os.path.getsize(path)
    if size > MAX_UPLOAD_BYTES:
      raise midi_io.InputError(
          f'{name or "The file"} is {size // 1024} KB; MidiMe Studio takes '
          f'MIDI files up to {MAX_UPLOAD_BYTES // 1024 // 1024} MB.')
    name = name or os.path.basename(path)
    try:
      self.tune = midi_io.read_midi_file(path)
    except midi_io.InputError as e:  # Named as the user named it.
      raise midi_io.InputError(str(e).replace(repr(path), repr(name)).replace(
          path, name)) from None
    self.tune_name = name
    self.tune.filename = self.tune_name
    self.tracks = self.default_tracks()
    return self.chunk()

  def track_choices(self):
    """[(label, instrument)] of the tune's pitched tracks, and of drums."""
    stats = tracks_lib.track_stats(self.tune)
    pitched = [(f'{s.instrument}: program {s.program}, {s.num_notes} notes',
                s.instrument) for s in stats]
    drums = sorted({n.instrument for n in self.tune.notes if n.is_drum})
    return pitched, [('all drums', -1)] + [(f'{i}: drums', i) for i in drums]

  def default_tracks(self):
    if self.kind == 'melody':
      return {'melody': tracks_lib.choose_melody_instrument(self.tune)}
    if self.kind == 'trio':
      trio = tracks_lib.choose_trio_tracks(self.tune)
      if trio is None:
        return {}
      return {'melody': trio.melody, 'bass': trio.bass,
              'drums': -1 if trio.drums is None else trio.drums}
    return {}

  def chunk(self, **tracks):
    """Cuts the tune with the tracks chosen; returns the input shown."""
    if self.tune is None:
      raise errors.UsageError('Upload a MIDI file or pick a tune first.')
    self.tracks.update({k: v for k, v in tracks.items() if v is not None})
    kwargs = {}
    if self.kind == 'melody' and 'melody' in self.tracks:
      kwargs['instrument'] = self.tracks['melody']
    elif self.kind == 'trio' and self.tracks:
      kwargs['trio_tracks'] = {
          'melody': self.tracks['melody'], 'bass': self.tracks['bass'],
          'drums': None if self.tracks['drums'] == -1 else self.tracks['drums']}
    self.chunked = self.personalizer.chunk(self.tune, allow_empty=False,
                                           **kwargs)
    self._chunking = kwargs
    self.personalizer.voicing = tracks_lib.voicing_of(self.chunked)
    return self.show(self.tune, 'input')

  def describe_input(self):
    c = self.chunked[0]
    bars = self.personalizer.music_vae.chunk_steps // steps.STEPS_PER_BAR
    trio = self.kind == 'trio'
    return (f'{self.tune_name}: {c.num_chunks} chunks of {bars} bars '
            f'({c.trio_tracks.describe() if trio else ""}'
            f'{"" if trio else f"melody from instrument {c.instrument}"}); '
            f'written back in {self.personalizer.voicing.describe(trio)}.')

  # -- MusicVAE alone -------------------------------------------------------------

  def prior(self, seed=None, temperature=0.5):
    p = self.personalizer
    return self._voiced_chunks(
        p.decode(p.music_vae.prior_latents(CHUNKS_SHOWN, seed), temperature),
        'musicvae')

  def music_vae_slider(self, values, temperature=0.5):
    z = np.asarray(values, np.float32) @ self.directions
    return self._voiced_chunks(
        self.personalizer.decode(z[None].astype(np.float32), temperature),
        'musicvae-sliders')

  # -- MidiMe ---------------------------------------------------------------------

  def train(self, epochs, on_epoch=None, seed=None):
    """Trains MidiMe on the chunks (one training at a time per server)."""
    if self.chunked is None:
      raise errors.UsageError('Upload a MIDI file or pick a tune first.')
    p = self.personalizer
    with self.studio.training_lock:
      started = time.perf_counter()
      history = p.train(self.tune, epochs=epochs, seed=seed, progress=False,
                        callbacks=[on_epoch] if on_epoch else (),
                        **self._chunking)
      self.points = None
    return history, time.perf_counter() - started

  def trained(self):
    if self.personalizer.midime is None:
      raise errors.UsageError('Train MidiMe (or load a run) first.')
    return self.personalizer

  def reconstructions(self, temperature=0.5):
    """(through MusicVAE alone, through MidiMe): the first chunks, shown."""
    p = self.trained()
    z = p.latents_of()[:CHUNKS_SHOWN]
    return (self._voiced_chunks(p.decode(z, temperature), 'before'),
            self._voiced_chunks(p.decode(p.midime.reconstruct(z), temperature),
                                'after'))

  def sample(self, seed=None, temperature=0.5, variation=1.0,
             allow_copies=False, attributes=None):
    """MidiMe's samples beside MusicVAE's, 5 chunks each."""
    p = self.trained()
    self.points = p.midime.sample_points(CHUNKS_SHOWN, seed, variation)
    self.variation = variation  # Copies are redrawn at the same scale.
    return self.steer(attributes, temperature, allow_copies,
                      seed), self.prior(seed, temperature)

  def steer(self, attributes=None, temperature=0.5, allow_copies=False,
            seed=None):
    """The last MidiMe draws, moved by attribute strengths {name: value}."""
    p = self.trained()
    if self.points is None:
      self.points = p.midime.sample_points(CHUNKS_SHOWN, seed)
    strengths = {k: v for k, v in (attributes or {}).items() if v}
    raw = p.decode_points(self.points, temperature, strengths)
    if not allow_copies:
      raw = p.new_only(raw, self.points,
                       novelty_lib.fresh_draws(self.variation),
                       personalizer_lib.redraw_rng(seed), temperature,
                       strengths)
    return self._voiced_chunks(raw, 'midime')

  def midime_slider(self, values, temperature=0.5):
    p = self.trained()
    return self._voiced_chunks(
        p.decode_points(np.asarray([values], np.float32), temperature),
        'midime-sliders')

  def piece(self, chunks, step_size, seed=None, temperature=0.5):
    return self.show(self.trained().piece(chunks, step_size, temperature,
                                          seed), 'piece')

  def constrain(self, rules_text):
    rules = [r.strip() for r in rules_text.replace('\n', ',').split(',')
             if r.strip()]
    report = self.trained().constrain(rules)
    return (f'Rules {", ".join(rules)}: obeyed by '
            f'{report["midime"]["satisfied_after"]:.0%} of MidiMe\'s samples '
            f'(before: {report["midime"]["satisfied_before"]:.0%}).')

  def attribute_names(self):
    return attributes_lib.names_for(self.personalizer.music_vae_config)

  # -- keeping it -------------------------------------------------------------------

  def save(self, run_dir):
    path = self.trained().save(run_dir)
    return f'Saved to {os.path.dirname(path)}.'

  def load(self, run_dir):
    p = personalizer_lib.Personalizer.load(
        run_dir, self.personalizer.checkpoint_file, self.personalizer.config,
        music_vae=self.personalizer.music_vae)
    self.personalizer, self.points = p, None
    return (f'Loaded {run_dir}: a MidiMe of {p.midime.hparams.latent_size} '
            f'dimensions trained on {len(p.training_data.z)} chunks.')
