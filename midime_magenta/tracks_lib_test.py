"""Tests for tracks_lib: which tracks of a song are the melody, bass, drums."""

import mido
import note_seq
import pytest

from midime_magenta import chunking_lib
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


def test_a_voicing_puts_musicvae_output_in_the_inputs_tempo_and_programs():
  decoded = note_seq.NoteSequence()
  decoded.tempos.add(qpm=120.0)
  decoded.notes.add(pitch=72, start_time=0.5, end_time=1.0, instrument=0)
  decoded.notes.add(pitch=36, start_time=1.0, end_time=2.0, instrument=1,
                    program=33)
  decoded.notes.add(pitch=38, start_time=1.5, end_time=1.625, instrument=9,
                    is_drum=True)
  decoded.total_time = 2.0
  voiced = tracks_lib.Voicing(qpm=80.0, melody_program=73,
                              bass_program=87).apply(decoded)
  assert [t.qpm for t in voiced.tempos] == [80.0]
  assert [(n.pitch, n.start_time, n.end_time, n.program, n.is_drum)
          for n in voiced.notes] == [(72, 0.75, 1.5, 73, False),
                                     (36, 1.5, 3.0, 87, False),
                                     (38, 2.25, 2.4375, 0, True)]
  assert voiced.total_time == 3.0
  assert decoded.notes[0].start_time == 0.5  # The original is untouched.
  assert tracks_lib.Voicing().apply(decoded) == decoded


def test_the_voicing_of_inputs_is_their_median_tempo_and_usual_programs():
  def chunked(n, qpm, programs):
    return chunking_lib.ChunkedInput(
        source='x', starts=[0.0] * n, notes=[], inputs=[0] * n, outputs=[],
        controls=[], lengths=[], qpm=qpm, programs=programs)
  voicing = tracks_lib.voicing_of([chunked(3, 90.0, {'melody': 73}),
                                   chunked(1, 140.0, {'melody': 40}),
                                   chunked(0, 60.0, {'melody': 1})])
  assert voicing == tracks_lib.Voicing(90.0, 73, 33)
  assert tracks_lib.voicing_of([]) == tracks_lib.Voicing()
  with pytest.raises(ValueError):
    tracks_lib.Voicing.from_dict({'qpm': 0})
  with pytest.raises(ValueError):
    tracks_lib.Voicing.from_dict({'melody_program': True})
  with pytest.raises(ValueError):
    tracks_lib.Voicing.from_dict({'tempo': 90})
  assert tracks_lib.Voicing.from_dict(None) == tracks_lib.Voicing()


@pytest.mark.parametrize('qpm, programs, written_qpm, written_programs', [
    (3.576, (0, 33), 3.577, (0, 33)),  # MIDI's slowest, rounded (0.2.0).
    (0.01, (0, 33), 3.577, (0, 33)),  # A NoteSequence's slower one.
    (2000.0, (73, 87), 2000.0, (73, 87)),  # Faster than 0.2.0 took.
    (1e6, (128, -1), 10_000.0, (127, 0)),  # A manifest's, beyond the reader's.
])
def test_every_voicing_is_written_as_midi(tmp_path, qpm, programs,
                                          written_qpm, written_programs):
  voicing = tracks_lib.Voicing.from_dict(
      {'qpm': qpm, 'melody_program': programs[0],
       'bass_program': programs[1]})
  assert (voicing.qpm, voicing.melody_program, voicing.bass_program) == (
      written_qpm, *written_programs)
  decoded = note_seq.NoteSequence(ticks_per_quarter=220)
  decoded.tempos.add(qpm=120.0)
  decoded.notes.add(pitch=60, velocity=80, start_time=0.0, end_time=0.5)
  decoded.notes.add(pitch=36, velocity=80, start_time=0.0, end_time=1.0,
                    instrument=1)
  decoded.total_time = 1.0
  path = str(tmp_path / 'out.mid')
  note_seq.sequence_proto_to_midi_file(voicing.apply(decoded), path)
  midi = mido.MidiFile(path)
  tempos = [m.tempo for t in midi.tracks for m in t if m.type == 'set_tempo']
  assert tempos == [pytest.approx(60e6 / written_qpm, abs=1)]
  assert sorted(m.program for t in midi.tracks for m in t
                if m.type == 'program_change') == sorted(written_programs)
