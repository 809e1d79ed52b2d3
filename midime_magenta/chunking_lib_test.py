"""Tests for chunking_lib: real MIDI in, every window out, reasons for none."""

import os

import mido
import note_seq
import pytest
import tensorflow.compat.v1 as tf

from midime_magenta import chunking_lib
from midime_magenta import midi_io
from midime_magenta import configs
from midime_testing import testdata_lib

MEL = configs.get_music_vae_config('cat-mel_2bar_small')


def _read(name):
  return midi_io.read_midi_file(testdata_lib.testdata_path(name))


def test_a_16_bar_tune_gives_the_demos_8_windows():
  chunks = chunking_lib.chunk_note_sequence(_read('reel_4-4.mid'), MEL)
  # mm.sequences.split(ns, 32): 2-bar windows that do not overlap.
  assert chunks.num_chunks == 8
  assert chunks.starts == [4.0 * k for k in range(8)]
  assert all(len(c) == 32 for c in chunks.inputs)
  # A new window every bar, on request: 16 (the last holds one bar).
  assert chunking_lib.chunk_note_sequence(
      _read('reel_4-4.mid'), MEL, hop_bars=1).num_chunks == 16


def test_input_sequence_is_not_modified():
  ns = _read('chorale_satb.mid')
  before = ns.SerializeToString()
  chunking_lib.chunk_note_sequence(ns, MEL)
  assert ns.SerializeToString() == before


def test_melody_track_of_a_chorale_is_the_soprano():
  ns = _read('chorale_satb.mid')
  chunks = chunking_lib.chunk_note_sequence(ns, MEL)
  assert chunks.instrument == 0 and chunks.num_chunks > 0
  bass = chunking_lib.chunk_note_sequence(ns, MEL, instrument=3)
  assert bass.instrument == 3


def test_unknown_instrument_or_program_is_refused():
  ns = _read('chorale_satb.mid')
  with pytest.raises(midi_io.InputError, match='no pitched instrument 9'):
    chunking_lib.chunk_note_sequence(ns, MEL, instrument=9)
  with pytest.raises(midi_io.InputError, match='no track with program 40'):
    chunking_lib.chunk_note_sequence(ns, MEL, program=40)


def test_melody_on_a_violin_program_still_chunks():
  ns = _read('reel_4-4.mid')
  for n in ns.notes:
    n.program = 40  # Violin: outside MusicVAE's melody programs 0-31.
  assert chunking_lib.chunk_note_sequence(ns, MEL).num_chunks == 8


@pytest.mark.parametrize('name, config, reason', [
    ('drums_only.mid', 'cat-mel_2bar_small', 'only drums'),
    ('reel_4-4.mid', 'cat-drums_2bar_small', 'no drum notes'),
    ('reel_4-4.mid', 'hierdec-trio_16bar', 'melody, bass and drums'),
])
def test_no_chunks_comes_with_the_reason(name, config, reason):
  chunks = chunking_lib.chunk_note_sequence(
      _read(name), configs.get_music_vae_config(config))
  assert chunks.num_chunks == 0
  assert reason in chunks.reason


def test_notes_out_of_range_are_counted():
  ns = _read('reel_4-4.mid')
  ns.notes[0].pitch = 10
  ns.notes[1].pitch = 120
  chunks = chunking_lib.chunk_note_sequence(ns, MEL)
  assert chunks.notes_out_of_range == 2


def test_all_notes_out_of_range_is_the_reason():
  ns = _read('reel_4-4.mid')
  for n in ns.notes:
    n.pitch = 5
  chunks = chunking_lib.chunk_note_sequence(ns, MEL)
  assert chunks.num_chunks == 0 and 'outside the model' in chunks.reason


def test_find_input_files_expands_dirs_globs_and_lists(tmp_path):
  folk = testdata_lib.testdata_path('folk')
  assert len(midi_io.find_input_files(folk)) == 10
  reel = testdata_lib.testdata_path('reel_4-4.mid')
  both = midi_io.find_input_files(f'{reel}, {folk}/0051*.mid')
  assert both[-1] == reel and len(both) == 5
  with pytest.raises(midi_io.InputError, match='does not exist'):
    midi_io.find_input_files(str(tmp_path / 'missing.mid'))
  with pytest.raises(midi_io.InputError, match='holds no .mid'):
    midi_io.find_input_files(str(tmp_path))
  with pytest.raises(midi_io.InputError, match='No file matches'):
    midi_io.find_input_files(str(tmp_path / '*.mid'))


def test_text_file_and_truncated_midi_are_refused(tmp_path):
  text = tmp_path / 'notes.mid'
  text.write_text('these are my notes')
  with pytest.raises(midi_io.InputError, match='not a MIDI file'):
    midi_io.read_midi_file(str(text))
  data = open(testdata_lib.testdata_path('reel_4-4.mid'), 'rb').read()
  cut = tmp_path / 'cut.mid'
  cut.write_bytes(data[:len(data) // 2])
  with pytest.raises(midi_io.InputError, match='damaged MIDI'):
    midi_io.read_midi_file(str(cut))


def test_tfrecord_of_note_sequences(tmp_path):
  path = str(tmp_path / 'tunes.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for name in ('reel_4-4.mid', 'chorale_satb.mid'):
      writer.write(_read(name).SerializeToString())
  found = list(midi_io.read_note_sequences(path))
  assert [s for s, _ in found] == [f'{path}#0', f'{path}#1']
  assert isinstance(found[0][1], note_seq.NoteSequence)
  assert os.path.basename(midi_io.find_input_files(str(tmp_path))[0]) == (
      'tunes.tfrecord')


def test_long_input_gives_every_window_past_the_converters_100_bars():
  """MusicVAE truncates melodies at 100 bars; windows are converted alone."""
  ns = _read('reel_4-4.mid')
  notes = list(ns.notes)
  del ns.notes[:]
  for k in range(10):  # 160 bars, each 16-bar pass transposed: all distinct.
    for n in notes:
      ns.notes.add(pitch=n.pitch + k - 5, velocity=80,
                   start_time=n.start_time + 32 * k,
                   end_time=n.end_time + 32 * k)
  ns.total_time = 320.0
  chunks = chunking_lib.chunk_note_sequence(ns, MEL)
  # 80 two-bar windows in order, 160 a bar apart, all different but the
  # reel's repeat (its 8th window is its 4th again).
  assert chunks.num_chunks == 80
  assert len({c.tobytes() for c in chunks.inputs}) == 70
  assert chunks.starts == [4.0 * i for i in range(80)]
  chunks = chunking_lib.chunk_note_sequence(ns, MEL, hop_bars=1)
  assert chunks.num_chunks == 160
  assert len({c.tobytes() for c in chunks.inputs}) == 150


def _one_pitch_per_bar(bars=12, qpm=120.0, numerator=4):
  """A melody whose bar k is four quarter notes of pitch 60 + k."""
  ns = note_seq.NoteSequence()
  ns.tempos.add(qpm=qpm)
  ns.time_signatures.add(numerator=numerator, denominator=4)
  quarter = 60.0 / qpm
  for bar in range(bars):
    for beat in range(numerator):
      start = (bar * numerator + beat) * quarter
      ns.notes.add(pitch=60 + bar, velocity=80, start_time=start,
                   end_time=start + quarter)
  ns.total_time = bars * numerator * quarter
  return ns


def _first_pitches(chunked):
  """The first pitch of each chunk, read back from the converter's output."""
  sequences = MEL.data_converter.from_tensors(chunked.outputs)
  return [min(s.notes, key=lambda n: n.start_time).pitch for s in sequences]


def test_chunks_come_in_time_order_with_their_starts():
  chunked = chunking_lib.chunk_note_sequence(_one_pitch_per_bar(), MEL)
  assert chunked.num_chunks == 6
  assert chunked.starts == [4.0 * k for k in range(6)]
  assert _first_pitches(chunked) == [60 + 2 * k for k in range(6)]
  chunked = chunking_lib.chunk_note_sequence(_one_pitch_per_bar(), MEL,
                                             hop_bars=1)
  assert chunked.starts == [2.0 * k for k in range(12)]
  assert _first_pitches(chunked) == [60 + k for k in range(12)]


def test_repeated_windows_are_kept_in_place():
  ns = _one_pitch_per_bar(bars=4)
  notes = list(ns.notes)
  for n in notes:  # The 4 bars twice: windows 0-2 come back as 4-6.
    ns.notes.add(pitch=n.pitch, velocity=80, start_time=n.start_time + 8,
                 end_time=n.end_time + 8)
  ns.total_time = 16.0
  chunked = chunking_lib.chunk_note_sequence(ns, MEL)
  assert _first_pitches(chunked) == [60, 62, 60, 62]


@pytest.mark.parametrize('name', ['waltz_3-4.mid'])
def test_other_meters_give_chunks_with_a_warning(name):
  chunked = chunking_lib.chunk_note_sequence(_read(name), MEL)
  assert chunked.num_chunks > 0
  assert '3/4' in chunked.warning and 'bar lines will not align' in (
      chunked.warning)
  assert chunked.starts == sorted(chunked.starts)


def test_a_six_eight_jig_gives_16_step_windows():
  ns = _one_pitch_per_bar(bars=8, numerator=6)
  ns.time_signatures[0].denominator = 8
  chunked = chunking_lib.chunk_note_sequence(ns, MEL)
  # 8 bars of six beats (a quarter each here) = 192 steps: 6 windows of
  # 32 steps, whatever the bar lines say.
  assert chunked.num_chunks == 6
  assert chunked.starts == [4.0 * k for k in range(6)]
  assert '6/8' in chunked.warning
  assert chunking_lib.chunk_note_sequence(
      _one_pitch_per_bar(bars=8), MEL).warning is None


def test_a_tune_shorter_than_a_window_is_one_padded_window_as_in_the_demo():
  chunked = chunking_lib.chunk_note_sequence(_one_pitch_per_bar(bars=1), MEL)
  assert chunked.num_chunks == 1 and chunked.starts == [0.0]
  pitches = MEL.data_converter.from_tensors(chunked.outputs)[0].notes
  assert [n.pitch for n in pitches] == [60] * 4
  assert max(n.end_time for n in pitches) == 2.0  # Then a bar of rest.


@pytest.mark.parametrize('name, chunks', [
    ('one_bar.mid', 1), ('sparse_melody.mid', 6), ('tempo_every_bar.mid', 8)])
def test_what_the_demo_takes_and_0_1_0_refused_gives_chunks(name, chunks):
  """A tune shorter than a window, a melody with rests of a bar or more, a
  tempo change every bar (split there, each part a padded window): the demo
  encodes every window with a note, so these train now."""
  chunked = chunking_lib.chunk_note_sequence(
      midi_io.read_midi_file(testdata_lib.testdata_path('bad', name)), MEL)
  assert chunked.num_chunks == chunks and chunked.reason is None


def _tunes():
  folk = testdata_lib.shared_path('midi', 'folk')
  return [testdata_lib.testdata_path('reel_4-4.mid')] + (sorted(
      os.path.join(folk, n) for n in os.listdir(folk)) if folk else [])


@pytest.mark.parametrize('path', _tunes(), ids=os.path.basename)
def test_no_window_is_one_held_note(path):
  chunks = chunking_lib.chunk_note_sequence(midi_io.read_midi_file(path), MEL)
  assert chunks.num_chunks >= 6
  for notes in chunks.notes:
    assert len(notes) > 2, [(n.pitch, n.quantized_start_step,
                             n.quantized_end_step) for n in notes]


def test_a_stray_note_off_before_a_note_on_ends_it_as_magenta_js_does():
  # The reel at 11.5 s: a note-off of 74 with no note open, then a note-on
  # of 74 on the same tick, closed 10.5 beats later (after another note-on
  # of 74). pretty_midi held it that long; @tonejs/midi pairs the two.
  path = testdata_lib.testdata_path('reel_4-4.mid')
  ours = [(n.start_time, n.end_time) for n in midi_io.read_midi_file(path).notes
          if n.pitch == 74 and 11 <= n.start_time < 16]
  # Magenta.js makes it (11.5, 11.5), one step once quantized; here it is
  # that step, a sixteenth at the reel's 120 qpm.
  assert ours == [(11.5, 11.625)]
  with open(path, 'rb') as f:
    held = [(n.start_time, n.end_time) for n in note_seq.midi_to_note_sequence(
        f.read()).notes if n.pitch == 74 and 11 <= n.start_time < 16]
  assert held == [(11.5, 17.0)]


def test_restarted_notes_and_unpaired_note_ons(tmp_path, caplog):
  midi = mido.MidiFile(ticks_per_beat=480)
  track = mido.MidiTrack()
  midi.tracks.append(track)
  for message in [mido.Message('note_on', note=60, velocity=80, time=0),
                  mido.Message('note_on', note=60, velocity=80, time=480),
                  mido.Message('note_off', note=60, time=480),
                  mido.Message('note_off', note=60, time=480),
                  mido.Message('note_on', note=62, velocity=80, time=0),
                  mido.Message('note_off', note=62, time=0),
                  mido.Message('note_on', note=64, velocity=80, time=480)]:
    track.append(message)
  path = str(tmp_path / 'restarts.mid')
  midi.save(path)
  ns = midi_io.read_midi_file(path)
  # Each note-on takes the first free note-off at its tick or later; the
  # zero-length 62 stays, a sixteenth long (pretty_midi drops it); 64
  # never ends (dropped).
  assert sorted((n.pitch, n.start_time, n.end_time) for n in ns.notes) == [
      (60, 0.0, 1.0), (60, 0.5, 1.5), (62, 1.5, 1.625)]
  assert 'Magenta.js' not in caplog.text
