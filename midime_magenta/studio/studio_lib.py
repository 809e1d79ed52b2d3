"""What MidiMe Studio does, without the page: one `Session` per browser tab.

Every result is MIDI and WAV, a piano roll that plays and notes. A tune is
refused from its size, MIDI events, notes or length before it is read
further; a result is played and drawn for its first `PLAYED_SECONDS` only.
"""

import contextlib
import logging
import os
import re
import secrets
import shutil
import threading
import time

import note_seq
import numpy as np
import pretty_midi
from midime_magenta import audio_lib
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import midi_io
from midime_magenta import novelty_lib
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import plots_lib
from midime_magenta import windows_lib

CHUNKS_SHOWN = 5  # The demo plays 5 chunks back to back.
SLIDER_RANGE = 2.0  # MidiMe's sliders, in standard deviations of its prior.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # A long MIDI file is well under 1 MB.
# Reading MIDI costs about 13 us an event (550,000 one-tick notes: 14 s); the
# events are counted from the bytes first, at about 1 us each.
MAX_EVENTS = 250_000
MAX_NOTES = 50_000
MAX_MINUTES = 30
PLAYED_SECONDS = 120  # What the page plays and draws of a result.
# The command line's words for what the page has as controls.
_CONTROLS = {'melody_track': 'the Melody track menu',
             'bass_track': 'the Bass track menu',
             'drum_track': 'the Drum track menu',
             'variation': 'the Variation slider'}


def page_words(message):
  """A message with the page's controls for flags, no command-line advice."""
  message = re.sub(r'--(\w+)', lambda m: _CONTROLS.get(m.group(1), m.group(0)),
                   message)
  message = re.sub(r';[^;]*--\w.*$', '.', message)
  return re.sub(r'\s*\([^()]*--\w[^()]*\)', '', message)


@contextlib.contextmanager
def warnings_heard():
  """The warnings this thread logs meanwhile, in the page's words."""
  heard, thread = [], threading.get_ident()
  hear = logging.Handler(logging.WARNING)
  hear.addFilter(lambda record: record.thread == thread)
  # A file named by its name, not by the server's path.
  hear.emit = lambda record: heard.append(page_words(re.sub(
      r'(?<![\w.])/\S*/', '', record.getMessage())))
  logging.getLogger().addHandler(hear)
  try:
    yield heard
  finally:
    logging.getLogger().removeHandler(hear)


def need(session):
  """The tab's session, or the sentence saying why it has none."""
  if session is not None and session.evicted:
    raise errors.UsageError(
        'This tab was idle the longest when another tab needed its place; '
        'open your tune again.')
  if session is None or session.closed:
    raise errors.UsageError('Upload a MIDI file or pick a tune first.')
  return session


class Shown:
  """A result: its whole MIDI file, and the WAV, roll and notes of what is
  played (its first `PLAYED_SECONDS`; `cut` when less than all)."""

  def __init__(self, ns, folder, name):
    self.sequence = ns
    self.midi = file_util.write_atomically(
        os.path.join(folder, name),
        lambda tmp: note_seq.sequence_proto_to_midi_file(ns, tmp),
        replace=False)  # tune-model-what-date(-2...).mid
    self.cut = ns.total_time > PLAYED_SECONDS
    played = note_seq.sequences_lib.trim_note_sequence(
        ns, 0, PLAYED_SECONDS) if self.cut else ns

    def render(tmp):  # From the MIDI of what is played, removed after.
      try:
        note_seq.sequence_proto_to_midi_file(played, tmp + '.mid')
        audio_lib.render_wav(tmp + '.mid', tmp)
      finally:
        with contextlib.suppress(OSError):
          os.remove(tmp + '.mid')
    self.wav = file_util.write_atomically(
        os.path.splitext(self.midi)[0] + '.wav', render, replace=False)
    self.roll = plots_lib.roll_html(played)  # Drawn and played in the page.
    self.notes = notes_text(played)


def notes_text(ns):
  """The notes, one per line: 'name pitch start end program' (drums: 'drum')."""
  return '\n'.join(
      f'{"drum" if n.is_drum else pretty_midi.note_number_to_name(n.pitch)} '
      f'{n.pitch} {n.start_time:.3f} {n.end_time:.3f} '
      f'{"drum" if n.is_drum else n.program}'
      for n in sorted(ns.notes, key=lambda n: (n.start_time, n.pitch)))


def midi_events(data, limit):
  """How many events MIDI bytes hold, up to `limit` + 1, without reading them
  as music (a damaged file counted as far as it goes; the reader refuses it)."""
  count, pos, size = 0, 8 + int.from_bytes(data[4:8], 'big'), len(data)

  def number(pos):  # A variable-length quantity: (value, where it ends).
    value = 0
    while data[pos] & 0x80:
      value, pos = (value << 7) | (data[pos] & 0x7F), pos + 1
    return (value << 7) | data[pos], pos + 1

  try:
    while pos + 8 <= size and count <= limit:
      end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], 'big')
      track, pos, status = data[pos:pos + 4] == b'MTrk', pos + 8, 0
      while track and pos < min(end, size) and count <= limit:
        _, pos = number(pos)  # The event's delta time.
        if data[pos] & 0x80:
          status, pos = data[pos], pos + 1
        if status >= 0xF0:  # Meta (a type, then a length) or sysex.
          length, pos = number(pos + (status == 0xFF))
          pos += length
        else:
          pos += 1 if 0xC0 <= status < 0xE0 else 2
        count += 1
      pos = end
  except IndexError:  # Cut short: counted so far.
    pass
  return count


class Session:
  """One tab's work: its tune, its chunks, its MidiMe and what it last drew."""

  def __init__(self, studio, model, tab=None):
    self.studio, self.model, self.tab = studio, model, tab
    self.personalizer = studio.personalizer(model)
    self.kind = self.personalizer.kind
    # A name no one can guess: the page's files are served by path.
    self.folder = os.path.join(studio.folder,
                               f'tab-{secrets.token_urlsafe(16)}')
    os.mkdir(self.folder)
    self.busy, self.used = 0, time.monotonic()
    self.closing = self.closed = self.evicted = False
    self.panels = {}  # The files each panel of the page shows.
    self.uploads = set()  # The uploads it opened (removed with the last tab).
    self.tune = self.tune_name = self.run_name = None  # run: the one loaded.
    self.more, self.tracks = [], {}  # more: chunks of more tunes to train on.
    self.chunked = self.z = None  # The tune's chunks and their mu.
    # MidiMe's small latents last sampled, at this scale.
    self.points, self.variation = None, 1.0

  def file_name(self, what):
    """tune-model-what-date.mid, after the tune, the run loaded or MusicVAE."""
    return file_util.musician_name(
        self.tune_name or self.run_name or 'musicvae', self.model, what)

  def show(self, ns, what):
    return Shown(ns, self.folder, self.file_name(what))  # Its .mid and .wav.

  def on_panel(self, panel, files):
    """Records the files `panel` shows; those it showed before are removed."""
    for path in set(self.panels.get(panel, ())) - set(files):
      with contextlib.suppress(OSError):
        os.remove(path)
    self.panels[panel] = list(files)

  def loss_png(self, history):
    path = plots_lib.plot_loss_curve(history, os.path.join(
        self.folder, f'loss-{time.monotonic_ns()}.png'))
    self.on_panel('loss', [path])
    return path

  def close(self):
    """Removes this tab's files and lets its model go (runs saved stay)."""
    shutil.rmtree(self.folder, ignore_errors=True)
    self.studio.release_uploads(self)
    self.closed = True
    self.personalizer = self.tune = self.chunked = self.points = None
    self.panels = {}

  def _voiced_chunks(self, raw, label):  # Decoded chunks back to back.
    p = self.personalizer
    return self.show(p.voiced([p.joined(raw)])[0], label)

  def open_tune(self, path, name=None):
    """Reads an uploaded or bundled MIDI file; returns the input shown."""
    self.tune = self.read_tune(path, name)
    self.tune_name, self.more = self.tune.filename, []
    found = personalizer_lib.tracks_for(self.kind, self.tune)
    trio = found.get('trio_tracks')  # All drums: -1 in the menu.
    self.tracks = ({'melody': found['instrument']} if 'instrument' in found
                   else {**trio, 'drums': -1 if trio['drums'] is None else
                         trio['drums']} if trio else {})
    return self.chunk()

  def read_tune(self, path, name=None):
    """A MIDI file as a NoteSequence named `name`, within the page's budget."""
    name = name or os.path.basename(path)
    self.uploads.add(os.path.abspath(path))
    try:
      size = os.path.getsize(path)
    except OSError:
      raise midi_io.InputError(f'{name} is no longer on the server; upload it '
                               'again.') from None
    if size > MAX_UPLOAD_BYTES:
      raise midi_io.InputError(
          f'{name} is {size // 1024} KB; MidiMe Studio takes '
          f'MIDI files up to {MAX_UPLOAD_BYTES // 1024 // 1024} MB.')
    with open(path, 'rb') as f:
      data = f.read()
    if midi_events(data, MAX_EVENTS) > MAX_EVENTS:
      raise midi_io.InputError(
          f'{name!r} holds more than {MAX_EVENTS:,} MIDI events; MidiMe Studio '
          f'takes tunes of up to {MAX_MINUTES} minutes and {MAX_NOTES:,} '
          'notes.')
    try:
      tune = midi_io.read_midi_bytes(data, path)
    except midi_io.InputError as e:  # Named as the user named it.
      raise midi_io.InputError(str(e).replace(repr(path), repr(name)).replace(
          path, name)) from None
    if tune.total_time > MAX_MINUTES * 60 or len(tune.notes) > MAX_NOTES:
      minutes, seconds = divmod(int(tune.total_time), 60)
      raise midi_io.InputError(f'{name!r} ' + (
          f'has {len(tune.notes):,} notes' if tune.total_time <= 60 *
          MAX_MINUTES else f'lasts {minutes} min {seconds} s' if minutes < 60
          else f'lasts {minutes // 60} h {minutes % 60} min') +
          f'; MidiMe Studio takes tunes of up to {MAX_MINUTES} minutes and '
          f'{MAX_NOTES:,} notes.')
    tune.filename = name
    return tune

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
    p = self.personalizer
    self.chunked = p.chunk(self.tune, allow_empty=False, **kwargs)
    self.z = p.encode(self.chunked)  # Now, while the input is listened to.
    p.voice_as(self.chunked)
    return self.show(self.tune, 'input')

  def describe_input(self):
    c = self.chunked[0]
    bars = self.personalizer.music_vae.chunk_steps // windows_lib.STEPS_PER_BAR
    trio = self.kind == 'trio'
    return (f'{self.tune_name}: {c.num_chunks} chunks of {bars} bars '
            f'({c.trio_tracks.describe() if trio else ""}'
            f'{"" if trio else f"melody from instrument {c.instrument}"}); '
            f'written back in {self.personalizer.voicing.describe(trio)}.'
            + (f' {little}' if (little := novelty_lib.too_little(
                c.num_chunks, bars)) else ''))

  def prior(self, seed=None, temperature=0.5):
    p = self.personalizer
    return self._voiced_chunks(
        p.decode(p.music_vae.prior_latents(CHUNKS_SHOWN, seed), temperature),
        'musicvae-samples')

  def train(self, epochs, on_epoch=None, seed=None):
    """Trains MidiMe on the chunks (one training at a time per server)."""
    if self.chunked is None:
      raise errors.UsageError('Upload a MIDI file or pick a tune first.')
    p = self.personalizer
    with self.studio.training_lock:
      started = time.perf_counter()
      history = p.train([*self.chunked, *self.more], epochs=epochs,
                        z=None if self.more else self.z, seed=seed,
                        progress=False,
                        callbacks=[on_epoch] if on_epoch else ())
      self.points = None
    return history, time.perf_counter() - started

  def trained(self):
    if self.personalizer.midime is None:
      raise errors.UsageError('Train MidiMe (or load a run) first.')
    return self.personalizer

  def reconstructions(self, temperature=0.5):
    """The first chunks through an untrained MidiMe, MusicVAE, the MidiMe."""
    p = self.trained()
    z = p.latents_of()[:CHUNKS_SHOWN]
    return tuple(self._voiced_chunks(p.decode(x, temperature), label) for
                 x, label in (
                     (personalizer_lib.untrained_reconstruction(p, z),
                      'untrained-midime'), (z, 'musicvae'),
                     (p.midime.reconstruct(z), 'midime')))

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
    return self._voiced_chunks(raw, 'midime-samples')

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

  def save(self, name):
    """Saves the model as run `name` of the runs library, a name no run has."""
    p = self.trained()
    path = self.studio.run_path(name, new=True)
    name = os.path.basename(path)  # The name stripped.
    try:
      p.save(path)
    except BaseException as e:
      shutil.rmtree(path, ignore_errors=True)
      if isinstance(e, errors.MidiMeError):
        raise errors.MidiMeError(str(e).replace(path, repr(name))) from None
      raise
    return f'Saved as {name!r} in the runs library.'

  def load(self, name):
    """Loads run `name` of the runs library."""
    if not name:
      raise errors.UsageError('Pick a saved run from the list first.')
    path = self.studio.run_path(name)
    name = os.path.basename(path)
    try:
      trained_on = personalizer_lib.run_music_vae(path)
      if trained_on != self.personalizer.config.music_vae_config:
        raise errors.UsageError(
            f'Run {name!r} was trained on MusicVAE {trained_on}, not '
            f'{self.personalizer.config.music_vae_config}; choose that model '
            'above, then load it.')
      p = personalizer_lib.Personalizer.load(
          path, self.personalizer.checkpoint_file, self.personalizer.config,
          music_vae=self.personalizer.music_vae)
    except errors.MidiMeError as e:
      raise errors.MidiMeError(str(e).replace(path, repr(name))) from None
    self.personalizer, self.points, self.run_name = p, None, name
    return (f'Loaded {name!r}: a MidiMe of {p.midime.hparams.latent_size} '
            f'dimensions trained on {len(p.training_data.z)} chunks.')
