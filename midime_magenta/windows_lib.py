"""MusicVAE's time grid (16th-note steps, 4/4 bars, decoded at 120 qpm), and
windows of music cut and encoded as Magenta.js's `sequences.split` and
converters' `toTensor` do (tests/magentajs_parity_test.py runs both)."""

import copy

import numpy as np

QPM = 120.0
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER
STEP_SECONDS = 60.0 / QPM / STEPS_PER_QUARTER  # 0.125 s.
BAR_SECONDS = STEPS_PER_BAR * STEP_SECONDS  # 2 s.


def onset_step(note):
  """The step a note starts on, at 120 qpm."""
  return int(round(note.start_time / STEP_SECONDS))


def bar_seconds(ns):
  """Seconds per 4/4 bar of a NoteSequence at its first tempo (120 qpm: 2 s)."""
  qpm = ns.tempos[0].qpm if ns.tempos else QPM
  return BAR_SECONDS * QPM / qpm


def _rebased(note, start, end):
  """A copy of a quantized note from step `start` to `end`."""
  note = copy.deepcopy(note)
  note.quantized_start_step, note.quantized_end_step = start, end
  return note


def split_notes(notes, chunk_steps):
  """Magenta.js's `sequences.split(ns, chunk_steps)`, quirks and all: a note
  that spills over a window's end closes it, dropping the notes yet to come in
  it, and goes on in the next; windows without notes are left out.

  Returns:
    [(start_step, [notes rebased to the window])], in time order.
  """
  todo = sorted(notes, key=lambda n: n.quantized_start_step)
  begins = [n.quantized_start_step for n in todo]  # Moved on by a cut.
  chunks, start_step, current, i = [], 0, [], 0
  while i < len(todo):
    begin = begins[i] - start_step
    end = todo[i].quantized_end_step - start_step
    if begin < 0 or end <= chunk_steps:
      if begin >= 0:
        current.append(_rebased(todo[i], begin, end))
      i += 1
      continue
    if begin < chunk_steps:  # Cut: its head here, the rest in the next.
      current.append(_rebased(todo[i], begin, chunk_steps))
      begins[i] = start_step + chunk_steps
    if current:
      chunks.append((start_step, current))
    current, start_step = [], start_step + chunk_steps
  if current:
    chunks.append((start_step, current))
  return chunks


def windows(notes, chunk_steps, hop_steps=None):
  """The demo's windows (`hop_steps` None), or overlapping ones: the demo's cut
  once per phase. Returns [(start_step, [notes])], in time order."""
  found = []
  for phase in range(0, chunk_steps, hop_steps or chunk_steps):
    shifted = [_rebased(n, max(n.quantized_start_step, phase) - phase,
                        n.quantized_end_step - phase)
               for n in notes if n.quantized_end_step > phase]
    found.extend((start + phase, chunk)
                 for start, chunk in split_notes(shifted, chunk_steps))
  return sorted(found, key=lambda item: item[0])


def _melody_one_hot(converter, notes, num_steps):
  """`Melody.fromNoteSequence(..., ignorePolyphony=true)`'s events, one-hot."""
  events = [-2] * num_steps
  last_start = None
  for n in sorted(notes, key=lambda n: (n.quantized_start_step, -n.pitch)):
    if n.quantized_start_step == last_start:
      continue  # The highest note of a chord is kept.
    events[n.quantized_start_step] = n.pitch
    if n.quantized_end_step < num_steps:
      events[n.quantized_end_step] = -1
    last_start = n.quantized_start_step
  encoding = converter.melody_encoding
  return np.eye(encoding.num_classes, dtype=bool)[
      [encoding.encode_event(e) for e in events]]


def _drum_tensors(converter, notes, num_steps):
  """(input, output) of a drum converter for one window."""
  classes = converter._pitch_class_map  # pylint: disable=protected-access
  events = [set() for _ in range(num_steps)]
  for n in notes:
    if n.is_drum and n.pitch in classes:
      events[n.quantized_start_step].add(classes[n.pitch])
  events = [frozenset(e) for e in events]
  rolls = converter._pr_encoder_decoder  # pylint: disable=protected-access
  roll = np.vstack([rolls.events_to_input(events, i)
                    for i in range(num_steps)]).astype(bool)
  roll_input, roll_output = converter._roll_input, converter._roll_output  # pylint: disable=protected-access
  one_hot = None
  if not (roll_input and roll_output):  # Full drums have 2^9 classes.
    one_hots = converter._oh_encoder_decoder  # pylint: disable=protected-access
    one_hot = np.eye(one_hots.num_classes, dtype=bool)[
        [one_hots.encode_event(e) for e in events]]
  inputs = (np.append(roll, np.all(roll == 0, axis=1, keepdims=True), axis=1)
            if roll_input else one_hot)
  return inputs, roll if roll_output else one_hot


def window_tensors(converter, kind, notes, num_steps):
  """(input, output) tensors of one whole window, rests included."""
  if kind == 'melody':
    tensor = _melody_one_hot(converter, notes, num_steps)
    return tensor, tensor
  if kind == 'drums':
    return _drum_tensors(converter, notes, num_steps)
  melody_converter = converter._melody_converter  # pylint: disable=protected-access
  parts = [_melody_one_hot(  # Melody, then bass, by their programs.
      melody_converter,
      [n for n in notes if not n.is_drum and low <= n.program <= high],
      num_steps) for low, high in ((0, 31), (32, 39))]
  parts.append(_drum_tensors(converter._drums_converter, notes, num_steps)[1])  # pylint: disable=protected-access
  tensor = np.concatenate(parts, axis=-1)
  return tensor, tensor
