"""Tests for audio_lib: real WAVs from real MIDI, with either synthesizer."""

import shutil

import numpy as np
import pytest
import scipy.io.wavfile

from midime_magenta import audio_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


def _audible_seconds(path):
  rate, audio = scipy.io.wavfile.read(path)
  audio = audio.astype(float)
  assert np.sqrt(np.mean(audio ** 2)) > 300  # Not silence, not whisper.
  return len(audio) / rate


def test_note_seq_synthesizer_when_fluidsynth_is_absent(tmp_path, monkeypatch):
  monkeypatch.setenv('MIDIME_SOUNDFONT', str(tmp_path / 'none.sf2'))
  monkeypatch.setattr(audio_lib, '_SOUNDFONTS', ())
  assert audio_lib.synthesizer_name() == 'note_seq'
  out = tmp_path / 'reel.wav'
  assert audio_lib.render_wav(REEL, str(out)) == 'note_seq'
  assert 31 < _audible_seconds(out) < 34  # The reel lasts 32 s.


def test_fluidsynth_with_a_general_midi_soundfont(tmp_path):
  if not (shutil.which('fluidsynth') and audio_lib.find_soundfont()):
    pytest.skip('FluidSynth or a GM soundfont is not installed '
                '(apt-get install fluidsynth fluid-soundfont-gm).')
  out = tmp_path / 'reel.wav'
  assert audio_lib.render_wav(REEL, str(out)) == 'fluidsynth'
  assert _audible_seconds(out) > 31
