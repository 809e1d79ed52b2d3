"""Tests for windows_lib: the demo's cut and magenta's own tensors."""

import note_seq
import pytest

from midime_magenta import chunking_lib
from midime_magenta import configs
from midime_magenta import midi_io
from midime_magenta import windows_lib
from midime_testing import testdata_lib


def _quantized(*notes):
  """Quantized notes from (pitch, start step, end step)."""
  ns = note_seq.NoteSequence()
  for pitch, start, end in notes:
    ns.notes.add(pitch=pitch, quantized_start_step=start,
                 quantized_end_step=end, velocity=80)
  return list(ns.notes)


def _steps(chunks):
  return [(start, [(n.pitch, n.quantized_start_step, n.quantized_end_step)
                   for n in notes]) for start, notes in chunks]


def test_a_held_note_is_split_into_the_next_window_as_in_the_demo():
  chunks = windows_lib.split_notes(
      _quantized((60, 0, 4), (62, 28, 36), (64, 36, 40)), 32)
  assert _steps(chunks) == [(0, [(60, 0, 4), (62, 28, 32)]),
                            (32, [(62, 0, 4), (64, 4, 8)])]


def test_split_keeps_the_demos_quirks():
  # A note that spills over closes its window at once: a note starting
  # later in that window is dropped, as sequences.split drops it. Empty
  # windows are left out, and a short tail is one (padded) window.
  chunks = windows_lib.split_notes(
      _quantized((60, 30, 34), (62, 31, 32), (64, 100, 102)), 32)
  assert _steps(chunks) == [(0, [(60, 30, 32)]), (32, [(60, 0, 2)]),
                            (96, [(64, 4, 6)])]


def test_overlapping_windows_are_the_demos_cut_at_every_hop():
  notes = _quantized((60, 0, 20), (62, 20, 40))
  assert _steps(windows_lib.windows(notes, 32, 16)) == [
      (0, [(60, 0, 20), (62, 20, 32)]),
      (16, [(60, 0, 4), (62, 4, 24)]),
      (32, [(62, 0, 8)])]


@pytest.mark.parametrize('config, name', [
    ('cat-mel_2bar_small', 'reel_4-4.mid'),
    ('cat-mel_2bar_small', 'chorale_satb.mid'),
    ('hierdec-mel_16bar', 'reel_4-4.mid'),
    ('cat-drums_2bar_small', 'drums_only.mid'),
    ('nade-drums_2bar_full', 'drums_only.mid'),
    ('hierdec-trio_16bar', 'trio'),
])
def test_window_tensors_are_magentas_own_where_its_converter_takes_them(
    config, name, tmp_path):
  """magenta's converters refuse some windows (a rest of a bar splits a
  melody); where they take one, its tensors are exactly ours."""
  music_vae_config = configs.get_music_vae_config(config)
  if name == 'trio':
    name = str(tmp_path / 'trio.mid')
    testdata_lib.make_trio_midi(name, bars=18)
  else:
    name = testdata_lib.testdata_path(name)
  chunked = chunking_lib.chunk_note_sequence(
      midi_io.read_midi_file(name), music_vae_config, hop_bars=1)
  converter = music_vae_config.data_converter
  converter.set_mode('train')
  converter.max_tensors_per_notesequence = None
  compared = 0
  for notes, inputs, outputs in zip(chunked.notes, chunked.inputs,
                                    chunked.outputs):
    window = note_seq.NoteSequence(ticks_per_quarter=220)
    window.tempos.add(qpm=120)
    for n in notes:
      m = window.notes.add()
      m.CopyFrom(n)
      m.start_time, m.end_time = (n.quantized_start_step * 0.125,
                                  n.quantized_end_step * 0.125)
    window.total_time = len(inputs) * 0.125
    theirs = converter.to_tensors(window)
    if len(theirs.inputs) == 1:
      compared += 1
      assert (theirs.inputs[0] == inputs).all()
      assert (theirs.outputs[0] == outputs).all()
  assert compared >= 1
