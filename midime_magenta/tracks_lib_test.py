"""Tests for tracks_lib: which tracks of a song are the melody, bass, drums."""

import pytest

from midime_magenta import midi_io
from midime_magenta import tracks_lib
from midime_testing import testdata_lib


def test_melody_score_falls_with_polyphony_for_low_tracks():
  low = tracks_lib.TrackStats(instrument=0, program=0, num_notes=10,
                                distinct_pitches=3, pitch_range=5,
                                mean_pitch=30.0, polyphony=0.0)
  assert low.melody_score > 0
  chordy = tracks_lib.TrackStats(**{**low.__dict__, 'polyphony': 0.5})
  assert chordy.melody_score < low.melody_score


def test_trio_tracks_are_picked_from_the_music(tmp_path):
  song = midi_io.read_midi_file(
      testdata_lib.make_band_midi(str(tmp_path / 'band.mid'), bars=6))
  picked = tracks_lib.choose_trio_tracks(song)
  # Flute tune on 2, synth bass (program 87) on 1; not the piano chords on 0.
  assert (picked.melody, picked.bass, picked.drums) == (2, 1, None)
  drums = next(n.instrument for n in song.notes if n.is_drum)
  forced = tracks_lib.choose_trio_tracks(song, melody=0, drums=drums)
  assert (forced.melody, forced.bass, forced.drums) == (0, 1, drums)
  with pytest.raises(midi_io.InputError, match='no pitched instrument 7'):
    tracks_lib.choose_trio_tracks(song, bass=7)


def test_a_general_midi_bass_is_taken_as_the_bass(tmp_path):
  song = midi_io.read_midi_file(
      testdata_lib.make_trio_midi(str(tmp_path / 'trio.mid'), bars=6))
  picked = tracks_lib.choose_trio_tracks(song)
  assert (picked.melody, picked.bass) == (0, 1)
  assert 'bass by its program (33)' in picked.why
