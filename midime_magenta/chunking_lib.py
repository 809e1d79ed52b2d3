"""Cutting a user's MIDI into chunks of a MusicVAE config, as the MidiMe demo
cuts them (`windows_lib`), after `tracks_lib` chose the tracks."""

import collections.abc
import copy
import dataclasses
import os

import note_seq
import numpy as np
from absl import logging
from magenta.models.music_vae import data

from midime_magenta import errors
from midime_magenta import midi_io
from midime_magenta import tracks_lib
from midime_magenta import windows_lib

MAX_HOP_BARS = 16  # The widest --hop_bars.
# The most chunks in one concatenated file: over two hours of a 2-bar model.
MAX_CONCAT_CHUNKS = 2048


class NoChunksError(errors.MidiMeError):
  """Inputs that give no chunk of the config's length (the message says why)."""


def converter_kind(music_vae_config):
  """'melody', 'drums', 'trio' or 'other', from the config's data converter."""
  for kind, cls in (('melody', data.OneHotMelodyConverter),
                    ('drums', data.DrumsConverter), ('trio', data.TrioConverter)):
    if isinstance(music_vae_config.data_converter, cls):
      return kind
  return 'other'


@dataclasses.dataclass
class ChunkedInput:
  """The chunks one input gave: where each starts in `source` (seconds), its
  quantized notes (steps from its start) and the converter's tensors; the
  tracks used; their median tempo and {'melody', 'bass'}: program; notes
  dropped for their pitch; why no chunks came out, or what to know of them."""
  source: str
  starts: list
  notes: list
  inputs: list
  outputs: list
  controls: list
  lengths: list
  instrument: int | None = None
  trio_tracks: tracks_lib.TrioTracks | None = None
  qpm: float = windows_lib.QPM
  programs: dict | None = None
  notes_out_of_range: int = 0
  reason: str | None = None
  warning: str | None = None

  @property
  def num_chunks(self):
    return len(self.inputs)

  def summary(self):
    """What a run's manifest records of this input."""
    return {'source': self.source, 'chunks': self.num_chunks,
            'reason': self.reason, 'warning': self.warning,
            'instrument': self.instrument,
            'trio_tracks': (None if self.trio_tracks is None else
                            dataclasses.asdict(self.trio_tracks)),
            'notes_out_of_range': self.notes_out_of_range}


def _as_common_time(ns):
  """The sequence in one 4/4, which the quantizer accepts whatever the meter."""
  del ns.time_signatures[:]
  ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
  return ns


def _check_arguments(ns, source, instrument, program, trio_tracks, hop_bars):
  """Raises UsageError for a bad argument, InputError for a bad `ns`."""
  if not isinstance(ns, note_seq.NoteSequence):
    raise errors.UsageError(f'ns must be a NoteSequence, got {ns!r}.')
  if trio_tracks is not None and not (
      isinstance(trio_tracks, collections.abc.Mapping) and
      set(trio_tracks) <= {'melody', 'bass', 'drums'}):
    raise errors.UsageError('trio_tracks must be a dict of \'melody\', '
                            f'\'bass\' and \'drums\', got {trio_tracks!r}.')
  tracks = [('instrument', instrument)] + [
      (f'trio_tracks[{k!r}]', v) for k, v in (trio_tracks or {}).items()]
  for name, value, low, high in [(*t, -2**31, 2**31 - 1) for t in tracks] + [
      ('program', program, 0, 127), ('hop_bars', hop_bars, 1, MAX_HOP_BARS)]:
    if value is not None:
      errors.check_int(name, value, low, high)
  midi_io.check_note_sequence(ns, source or ns.filename or 'NoteSequence')
  seconds = max([ns.total_time] + [n.end_time for n in ns.notes])
  if seconds > midi_io.MAX_SECONDS:
    raise midi_io.InputError(
        f'{source or ns.filename or "The input"} lasts {seconds / 3600:.1f} '
        f'hours, more than the {midi_io.MAX_SECONDS // 3600} we take; it is '
        'probably damaged, or split it into shorter files.')


def chunk_note_sequence(ns, music_vae_config, source='', instrument=None,
                        program=None, trio_tracks=None, hop_bars=None):
  """Cuts a NoteSequence into chunks of the config's length.

  Args:
    ns: the NoteSequence (not modified); `source` names it in messages.
    music_vae_config: the MusicVAE config whose converter makes the chunks.
    instrument, program, trio_tracks: override the track choice.
    hop_bars: None for the demo's windows; else bars between window starts.

  Returns:
    A `ChunkedInput`, chunks in time order; with none, `reason` says why.

  Raises:
    midi_io.InputError: a track asked for is not there, or `ns` is unusable.
  """
  _check_arguments(ns, source, instrument, program, trio_tracks, hop_bars)
  kind = converter_kind(music_vae_config)
  converter = music_vae_config.data_converter
  if kind == 'other':
    raise errors.UsageError(f'MidiMe chunks melodies, trios and drums; '
                            f'{type(converter).__name__} is none of them.')
  original, ns = ns, copy.deepcopy(ns)
  if not ns.tempos:  # magenta's TrioConverter needs one.
    ns.tempos.add(time=0.0, qpm=windows_lib.QPM)
  pitched = converter._melody_converter if kind == 'trio' else converter  # pylint: disable=protected-access
  low, high = ((0, 127) if kind == 'drums' else
               (pitched._min_pitch, pitched._max_pitch))  # pylint: disable=protected-access
  kept, chosen, trio, programs, out_of_range = tracks_lib.model_notes(
      ns, kind, low, high, instrument, program, trio_tracks)
  del ns.notes[:]
  ns.notes.extend(kept)
  chunk_steps = music_vae_config.hparams.max_seq_len
  windows = []  # (start seconds, qpm, notes, input, output), in time order.
  for segment in note_seq.sequences_lib.split_note_sequence_on_time_changes(
      _as_common_time(ns)):  # As MusicVAE's converters split.
    offset = segment.subsequence_info.start_time_offset
    qpm = segment.tempos[0].qpm if segment.tempos else windows_lib.QPM
    quantized = note_seq.quantize_note_sequence(
        _as_common_time(segment), windows_lib.STEPS_PER_QUARTER)
    for start, window in windows_lib.windows(
        quantized.notes, chunk_steps,
        hop_bars and hop_bars * windows_lib.STEPS_PER_BAR):
      windows.append((
          offset + start * (60.0 / qpm / windows_lib.STEPS_PER_QUARTER),
          qpm, window, *windows_lib.window_tensors(converter, kind, window,
                                                   chunk_steps)))
  starts, tempos, notes, inputs, outputs = (
      map(list, zip(*windows)) if windows else ([] for _ in range(5)))
  chunked = ChunkedInput(
      source=source, starts=starts, notes=notes, inputs=inputs,
      outputs=outputs, controls=[], instrument=chosen, trio_tracks=trio,
      lengths=[chunk_steps] * len(inputs),
      notes_out_of_range=out_of_range, programs=programs,
      qpm=float(np.median(tempos)) if tempos else windows_lib.QPM)
  other_meters = sorted({f'{t.numerator}/{t.denominator}'
                         for t in original.time_signatures} - {'4/4'})
  if chunked.num_chunks and other_meters:
    chunked.warning = (
        f'it is in {", ".join(other_meters)}: MusicVAE reads it as a stream '
        f'of 16th notes in {chunk_steps}-step windows, as Magenta.js '
        'does, so its bar lines will not align with the chunks')
  elif not chunked.num_chunks:
    chunked.reason = (
        f'all {out_of_range} notes of its melody track lie outside the '
        f'model\'s pitch range ({low}-{high})'
        if kind == 'melody' and out_of_range and not kept else
        explain_no_chunks(original, music_vae_config))
  return chunked


def concatenate_in_slots(sequences, slot_seconds):
  """Chunks back to back, each in a slot of exactly `slot_seconds`."""
  return note_seq.sequences_lib.concatenate_sequences(
      list(sequences), [slot_seconds] * len(sequences))


def check_concat_length(n, what='A concatenated file'):
  """Refuses more than MAX_CONCAT_CHUNKS chunks in one file."""
  if n > MAX_CONCAT_CHUNKS:
    raise errors.UsageError(
        f'{what} holds at most {MAX_CONCAT_CHUNKS} chunks; {n} were asked '
        'for. Ask for fewer, or write them as separate files.')


def explain_no_chunks(ns, music_vae_config):
  """Says, in one clause, why a NoteSequence gave no chunks."""
  kind = converter_kind(music_vae_config)
  pitched = [n for n in ns.notes if not n.is_drum]
  if not ns.notes:
    return 'it has no notes'
  if all(n.end_time <= n.start_time for n in ns.notes):
    return f'all its {len(ns.notes)} notes have zero length'
  if kind in ('melody', 'trio') and not pitched:
    return f'it has only drums, and {kind} configs need a melody'
  if kind == 'trio' and len({n.instrument for n in pitched}) < 2:
    return ('it has one pitched track, and a trio needs melody, bass and '
            'drums: a tune and a bass on two tracks, drums on channel 10')
  if kind == 'drums' and len(pitched) == len(ns.notes):
    return ('it has no drum notes (MIDI channel 10), and drum configs need '
            'drums')
  if kind == 'trio':
    return ('its melody and bass tracks hold no notes in the model\'s pitch '
            'range (pick the tracks with --melody_track, --bass_track and '
            '--drum_track)')
  return 'it has no notes this model plays'


def _sequences(item, skipped):
  """(source, NoteSequence) pairs of an input; unreadable files among several
  go to `skipped`."""
  if isinstance(item, note_seq.NoteSequence):
    return [(item.filename or 'NoteSequence', item)]
  if not isinstance(item, (str, os.PathLike)):
    raise errors.UsageError(
        'inputs must be NoteSequences or paths (MIDI or TFRecord files, '
        f'folders, globs), got {item!r}.')
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


def chunk_inputs(inputs, music_vae_config, instrument=None, program=None,
                 trio_tracks=None, allow_empty=True, hop_bars=None):
  """Cuts inputs into chunks; returns a `ChunkedInput` per sequence.

  Args:
    inputs: NoteSequences, MIDI/TFRecord paths, folders, globs, or a
      comma-separated string of them; a `ChunkedInput` is kept as it is.
    music_vae_config, instrument, program, trio_tracks, hop_bars: as in
      `chunk_note_sequence`.
    allow_empty: False to refuse inputs that give no chunk at all.

  Raises:
    midi_io.InputError: for an input that names nothing, or a single file that
      cannot be used (among several, it is skipped with its reason).
    NoChunksError: with `allow_empty` False, saying why.
  """
  if isinstance(inputs, (str, os.PathLike, note_seq.NoteSequence)) or (
      not isinstance(inputs, collections.abc.Iterable)):
    inputs = [inputs]  # Anything else is refused by _sequences, naming it.
  skipped, pairs, chunked = [], [], []
  for item in inputs:
    if isinstance(item, ChunkedInput):
      chunked.append(item)
    else:
      pairs.extend(_sequences(item, skipped))
  for source, ns in pairs:
    try:
      chunked.append(chunk_note_sequence(
          ns, music_vae_config, source, instrument, program, trio_tracks,
          hop_bars))
    except midi_io.InputError as e:
      if len(pairs) + len(skipped) == 1 or instrument is not None or (
          program is not None) or trio_tracks:
        raise
      skipped.append((source, str(e)))
    else:
      _log_chunked(chunked[-1])
  for path, why in skipped:
    chunked.append(ChunkedInput(path, [], [], [], [], [], [],
                                reason=f'skipped: {why}'))
    _log_chunked(chunked[-1])
  if not allow_empty and not any(c.num_chunks for c in chunked):
    bars = music_vae_config.hparams.max_seq_len // windows_lib.STEPS_PER_BAR
    if len(chunked) == 1:
      raise NoChunksError(f'{chunked[0].source!r} gave no {bars}-bar chunks: '
                          f'{chunked[0].reason}.')
    reasons = sorted({c.reason for c in chunked})
    raise NoChunksError(f'None of the {len(chunked)} inputs gave a {bars}-bar '
                        f'chunk ({"; ".join(reasons[:3])}).')
  return chunked


def encode_chunks(music_vae, chunked):
  """MusicVAE's mu of the chunks of `chunk_inputs`: [n, z_size], in order."""
  return music_vae.encode_tensors([x for c in chunked for x in c.inputs],
                                  [x for c in chunked for x in c.lengths],
                                  [x for c in chunked for x in c.controls])


def _log_chunked(result):
  """One log line per input: what it gave, or why it gave nothing."""
  source = repr(result.source)  # Quoted: a name cannot forge a log line.
  track = (f' ({result.trio_tracks.describe()})' if result.trio_tracks else
           '' if result.instrument is None else
           f' (melody from instrument {result.instrument})')
  if result.num_chunks:
    logging.info('%s: %d chunks%s.', source, result.num_chunks, track)
  else:
    logging.warning('%s: no chunks, because %s.', source, result.reason)
  if result.warning:
    logging.warning('%s: %s.', source, result.warning)
  if result.notes_out_of_range:
    logging.warning('%s: dropped %d notes outside the model\'s pitch range.',
                    source, result.notes_out_of_range)
