"""Finding, reading and checking a user's MIDI and TFRecords of NoteSequences."""

import collections
import copy
import glob
import io
import math
import os

from absl import logging
import mido

from midime_magenta import errors
from midime_magenta import file_util

MIDI_EXTENSIONS = ('.mid', '.midi', '.kar')
MAX_MIDI_BYTES = 64 << 20  # An orchestral score is a few MiB.
MAX_SECONDS = 4 * 3600  # Longer is a damaged file (and would exhaust memory).
TFRECORD_EXTENSIONS = ('.tfrecord', '.tfrecords')
MAX_QPM = 10_000  # The fastest tempo taken; faster is a damaged file.


class InputError(errors.MidiMeError):
  """An input path that cannot be read as MIDI or NoteSequences."""


def _walk_music_files(folder, skipped):
  """MIDI and TFRecord files under `folder` (links followed once); what is not a
  regular file goes to `skipped`."""
  found, seen = [], set()
  for root, dirs, files in os.walk(folder, followlinks=True):
    real = os.path.realpath(root)
    if real in seen:  # A symlink loop, or a folder reached twice.
      dirs[:] = []
      continue
    seen.add(real)
    dirs.sort()
    for name in sorted(files):
      if not name.lower().endswith(MIDI_EXTENSIONS + TFRECORD_EXTENSIONS):
        continue
      path = os.path.join(root, name)
      if os.path.isfile(path):
        found.append(path)
      else:
        why = ('a broken or looping link' if os.path.islink(path) else
               'not a regular file')
        skipped.append((path, why))
  return found


def find_input_files(spec, skipped=None):
  """Sorted file paths from '--input_midi': comma-separated files, directories
  and globs (a path that exists is taken whole; a file reached twice is read
  once). What is passed over goes to `skipped` as (path, why).

  Raises:
    InputError: when an item names nothing, or a directory holds no MIDI.
  """
  skipped = [] if skipped is None else skipped
  items = [spec] if os.path.exists(os.path.expanduser(spec)) else [
      s.strip() for s in spec.split(',')]
  found = []
  for item in filter(None, items):
    item = os.path.expanduser(item)
    if os.path.isdir(item):
      matches = _walk_music_files(item, skipped)
      if not matches:
        raise InputError(f'Directory {item!r} holds no .mid, .midi or '
                         '.tfrecord files.')
    elif glob.has_magic(item):
      matches = [p for p in glob.glob(item, recursive=True)
                 if os.path.isfile(p)]
      if not matches:
        raise InputError(f'No file matches {item!r}.')
    elif os.path.isfile(item):
      matches = [item]
    elif os.path.exists(item):
      raise InputError(f'{item!r} is not a regular file.')
    else:
      raise InputError(f'Input {item!r} does not exist.')
    found.extend(matches)
  if not found:
    raise InputError('No input given; pass --input_midi with a MIDI file, '
                     'a directory or a glob.')
  # Of the paths to one file, the first in sorted order is kept.
  return sorted({os.path.realpath(path): path
                 for path in sorted(found, reverse=True)}.values())


def read_midi_file(path):
  """Reads one MIDI file into a NoteSequence; raises InputError."""
  try:
    with open(path, 'rb') as f:
      midi_bytes = f.read(MAX_MIDI_BYTES + 1)
  except OSError as e:
    raise InputError(f'Cannot read {path!r}: {e.strerror}.') from None
  return read_midi_bytes(midi_bytes, path)


def read_midi_bytes(midi_bytes, path):
  """Parses MIDI bytes (read from any filesystem); raises InputError."""
  if len(midi_bytes) > MAX_MIDI_BYTES:
    raise InputError(
        f'{path!r} is larger than a MIDI file can usefully be '
        f'({MAX_MIDI_BYTES >> 20} MiB); split it or check that it is MIDI.')
  if not midi_bytes.startswith(b'MThd'):
    raise InputError(f'{path!r} is not a MIDI file (it does not start with a '
                     'MIDI header); export it as a Standard MIDI File.')
  if len(midi_bytes) >= 14 and midi_bytes[12] & 0x80:
    raise InputError(
        f'{path!r} times its events in SMPTE frames, which MIDI readers here '
        'do not take; re-export it with ticks per quarter note (the usual '
        'setting).')
  # pylint: disable=g-import-not-at-top
  import note_seq  # Slow to import: after the refusals above.
  import pretty_midi
  try:
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    ns = note_seq.midi_to_note_sequence(midi)
    changed = _end_notes_as_magenta_js(ns, midi, midi_bytes)
  except Exception as e:  # pylint: disable=broad-except
    raise InputError(f'{path!r} is a damaged MIDI file ({type(e).__name__}: '
                     f'{e}); re-export it from your editor.') from None
  ns.filename = file_util.shown_name(os.path.basename(path))
  if changed:
    logging.warning(
        '%s: %d notes are not read as Magenta.js reads them (note-ons and '
        'note-offs of one pitch that do not pair up).',
        path, changed)
  if not ns.notes and changed:  # Readers drop notes that end as they start.
    raise InputError(
        f'{path!r} gave no chunks: all its {changed} notes have zero length '
        '(each note-off falls on its note-on); re-export it with note '
        'lengths.')
  return check_note_sequence(ns, path)


def _end_notes_as_magenta_js(ns, midi, midi_bytes):
  """Makes the notes of `ns` those Magenta.js's reader (@tonejs/midi) makes,
  and returns how many still differ: each note-on of a track, in file order,
  ends at the first unused note-off of its pitch at its tick or later (which
  pretty_midi may hold open, or drop); a zero-length note lasts a sixteenth
  here (one step once quantized)."""
  paired = collections.defaultdict(list)  # (pitch, start s): [(end s, ...)].
  rank = 0  # Note-ons in file order: @tonejs/midi's order of equal starts.
  tracks = mido.MidiFile(file=io.BytesIO(midi_bytes)).tracks
  for number, track in enumerate(tracks):
    tick, ons, offs = 0, [], collections.defaultdict(collections.deque)
    for message in track:
      tick += message.time
      if message.type == 'note_on' and message.velocity:
        ons.append((message.note, tick, message.velocity, message.channel))
      elif message.type in ('note_on', 'note_off'):
        offs[message.note].append(tick)
    for pitch, start, velocity, channel in ons:  # In tick order.
      while offs[pitch] and offs[pitch][0] < start:
        offs[pitch].popleft()  # Later note-ons cannot pair with it either.
      if offs[pitch]:
        rank += 1
        paired[pitch, midi.tick_to_time(start)].append((midi.tick_to_time(
            offs[pitch].popleft()), (number, channel), velocity, rank))
  changed, like, notes = 0, {}, []
  for note in ns.notes:
    if paired.get((note.pitch, note.start_time)):
      note.end_time, where, _, rank = paired[note.pitch, note.start_time].pop(0)
      like.setdefault(where, note)
    else:
      changed, rank = changed + 1, math.inf
    notes.append((rank, note))
  for (pitch, start), rest in paired.items():
    for end, where, velocity, rank in rest:
      if where not in like:
        changed += 1
        continue
      note = copy.deepcopy(like[where])
      note.pitch, note.velocity = pitch, velocity
      note.start_time, note.end_time = start, end
      notes.append((rank, note))
  ordered = [copy.deepcopy(note) for _, note in sorted(notes, key=lambda r_n: (
      r_n[1].instrument, r_n[1].start_time, r_n[0]))]
  del ns.notes[:]
  ns.notes.extend(ordered)
  tempos = sorted((t.time, t.qpm) for t in ns.tempos) or [(0.0, 120.0)]
  for note in ns.notes:
    if note.end_time == note.start_time:  # A sixteenth: one step, as quantized.
      qpm = [q for t, q in tempos if t <= note.start_time] or [tempos[0][1]]
      note.end_time += 15.0 / qpm[-1]
  ns.total_time = max((n.end_time for n in ns.notes), default=ns.total_time)
  return changed


def check_note_sequence(ns, source):
  """Returns `ns` if its timing and notes can be music, else raises InputError."""
  def bad(what):
    return InputError(f'{source!r} is not a usable NoteSequence: {what}; '
                      're-export it.')
  for tempo in ns.tempos:
    if not (math.isfinite(tempo.qpm) and 0 < tempo.qpm <= MAX_QPM and
            math.isfinite(tempo.time) and tempo.time >= 0):
      raise bad(f'a tempo of {tempo.qpm:g} qpm at {tempo.time:g} s')
  for ts in ns.time_signatures:
    if ts.numerator <= 0 or ts.denominator <= 0 or not math.isfinite(
        ts.time):
      raise bad(f'a time signature of {ts.numerator}/{ts.denominator}')
  if not math.isfinite(ns.total_time) or ns.total_time < 0:
    raise bad(f'a total time of {ns.total_time}')
  for n in ns.notes:
    if not (math.isfinite(n.start_time) and math.isfinite(n.end_time) and
            0 <= n.start_time <= n.end_time):
      raise bad(f'a note from {n.start_time:g} s to {n.end_time:g} s')
    if not 0 <= n.pitch <= 127 or not 0 <= n.velocity <= 127:
      raise bad(f'a note of pitch {n.pitch} and velocity {n.velocity}')
    if not 0 <= n.program <= 127:
      raise bad(f'a note on program {n.program} (MIDI has programs 0-127)')
  return ns


def read_note_sequences(path):
  """Yields (source name, NoteSequence) from a MIDI or TFRecord file; raises InputError."""
  if path.lower().endswith(TFRECORD_EXTENSIONS):
    # pylint: disable=g-import-not-at-top
    import tensorflow.compat.v1 as tf
    from note_seq.protobuf import music_pb2
    try:
      for i, record in enumerate(tf.python_io.tf_record_iterator(path)):
        source = f'{path}#{i}'
        yield source, check_note_sequence(
            music_pb2.NoteSequence.FromString(record), source)
    except InputError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise InputError(f'{path!r} is not a TFRecord of NoteSequences '
                       f'({type(e).__name__}).') from None
  else:
    yield path, read_midi_file(path)
