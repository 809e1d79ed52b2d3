"""Rendering MIDI to WAV: FluidSynth with a General MIDI soundfont where one is
installed (or $MIDIME_SOUNDFONT), else note_seq's synthesizer; trimmed,
faded and normalised."""

import os
import shutil
import subprocess

import note_seq
import numpy as np
import scipy.io.wavfile

SAMPLE_RATE = 44100
PEAK_DBFS = -1.0
RELEASE_SECONDS = 0.5
FADE_SECONDS = 0.1
_SOUNDFONTS = ('/usr/share/sounds/sf2/FluidR3_GM.sf2',
               '/usr/share/sounds/sf2/default-GM.sf2',
               '/usr/share/soundfonts/FluidR3_GM.sf2')


def find_soundfont():
  """A General MIDI soundfont path, or None."""
  for path in filter(None, [os.environ.get('MIDIME_SOUNDFONT'), *_SOUNDFONTS]):
    if os.path.isfile(path):
      return path
  return None


def synthesizer_name():
  """'fluidsynth' when FluidSynth and a soundfont are here, else 'note_seq'."""
  return 'fluidsynth' if shutil.which('fluidsynth') and find_soundfont() else (
      'note_seq')


def render_wav(midi_path, wav_path):
  """Renders a MIDI file to `wav_path`; returns the synthesizer's name."""
  synth = synthesizer_name()
  ns = note_seq.midi_file_to_note_sequence(midi_path)
  if synth == 'fluidsynth':
    # Gain 1.0: FluidSynth's default 0.2 leaves a melody near -45 dBFS RMS.
    subprocess.run(['fluidsynth', '-ni', '-q', '-g', '1.0', '-F', wav_path,
                    '-r', str(SAMPLE_RATE), find_soundfont(), midi_path],
                   check=True, capture_output=True, timeout=300)
    _, audio = scipy.io.wavfile.read(wav_path)  # `finish` makes it float.
  else:
    audio = note_seq.midi_synth.synthesize(ns, sample_rate=SAMPLE_RATE)
  scipy.io.wavfile.write(wav_path, SAMPLE_RATE, finish(audio, ns.total_time))
  return synth


def finish(audio, last_note_end):
  """16-bit audio ending `RELEASE_SECONDS` after `last_note_end`, faded out,
  its peak at `PEAK_DBFS`."""
  audio = np.array(audio[:int((last_note_end + RELEASE_SECONDS) *
                              SAMPLE_RATE)], np.float64)
  fade = min(len(audio), int(FADE_SECONDS * SAMPLE_RATE))
  audio[len(audio) - fade:] *= np.linspace(1.0, 0.0, fade).reshape(
      (-1,) + (1,) * (audio.ndim - 1))
  peak = float(np.max(np.abs(audio))) if audio.size else 0.0
  if peak:
    audio *= 10 ** (PEAK_DBFS / 20) * 32767 / peak
  return audio.astype(np.int16)
