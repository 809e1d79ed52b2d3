"""Tests for audio_lib: real WAVs from real MIDI, with either synthesizer."""

import shutil

import note_seq
import numpy as np
import pytest
import scipy.io.wavfile

from midime_magenta import audio_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


def check_ready_to_use(wav_path, midi_path):
  """A WAV that peaks at -3 dBFS or louder, is audible, and ends at most 1 s
  after the MIDI's last note (and not before it). Returns its seconds."""
  rate, audio = scipy.io.wavfile.read(wav_path)
  audio = audio.astype(float) / 32768
  peak_dbfs = 20 * np.log10(np.max(np.abs(audio)))
  assert -3 <= peak_dbfs <= 0, peak_dbfs
  assert np.sqrt(np.mean(audio ** 2)) > 0.01  # Not silence, not a whisper.
  seconds = len(audio) / rate
  last_note_end = note_seq.midi_file_to_note_sequence(midi_path).total_time
  assert last_note_end < seconds <= last_note_end + 1, (seconds, last_note_end)
  return seconds


def test_note_seq_synthesizer_when_fluidsynth_is_absent(tmp_path, monkeypatch):
  monkeypatch.setenv('MIDIME_SOUNDFONT', str(tmp_path / 'none.sf2'))
  monkeypatch.setattr(audio_lib, '_SOUNDFONTS', ())
  assert audio_lib.synthesizer_name() == 'note_seq'
  out = tmp_path / 'reel.wav'
  assert audio_lib.render_wav(REEL, str(out)) == 'note_seq'
  assert check_ready_to_use(out, REEL) == 32.5  # The reel lasts 32 s.


def test_fluidsynth_with_a_general_midi_soundfont(tmp_path):
  if not (shutil.which('fluidsynth') and audio_lib.find_soundfont()):
    pytest.skip('FluidSynth or a GM soundfont is not installed '
                '(apt-get install fluidsynth fluid-soundfont-gm).')
  out = tmp_path / 'reel.wav'
  assert audio_lib.render_wav(REEL, str(out)) == 'fluidsynth'
  # FluidSynth renders 48.4 s of it: 16 s past the last note.
  assert check_ready_to_use(out, REEL) == 32.5
  _, audio = scipy.io.wavfile.read(out)
  last_note = audio[int(31.8 * audio_lib.SAMPLE_RATE):int(
      32.0 * audio_lib.SAMPLE_RATE)].astype(float)
  assert np.sqrt(np.mean(last_note ** 2)) > 300  # Still sounding, not cut.


def test_silence_stays_silent_and_a_short_file_fades():
  assert not audio_lib.finish(np.zeros(44100), 0.2).any()
  ramp = audio_lib.finish(np.ones(44100), 0.0)
  assert len(ramp) == 0.5 * 44100 and ramp[-1] == 0
  assert ramp[0] == int(10 ** (audio_lib.PEAK_DBFS / 20) * 32767) == 29203
