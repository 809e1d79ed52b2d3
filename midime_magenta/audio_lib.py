"""Rendering MIDI to WAV: FluidSynth with a General MIDI soundfont where one is
installed (`apt-get install fluidsynth fluid-soundfont-gm`, or $MIDIME_SOUNDFONT),
else note_seq's sine-wave synthesizer. `render_wav` says which was used.
"""

import os
import shutil
import subprocess

import note_seq
import numpy as np
import scipy.io.wavfile

SAMPLE_RATE = 44100
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
  """Renders a MIDI file to `wav_path` (a `write_atomically` temporary); returns
  the synthesizer's name.
  """
  synth = synthesizer_name()
  if synth == 'fluidsynth':
    # Gain 1.0: FluidSynth's default 0.2 leaves a melody near -45 dBFS RMS.
    subprocess.run(['fluidsynth', '-ni', '-q', '-g', '1.0', '-F', wav_path,
                    '-r', str(SAMPLE_RATE), find_soundfont(), midi_path],
                   check=True, capture_output=True, timeout=300)
  else:
    ns = note_seq.midi_file_to_note_sequence(midi_path)
    audio = note_seq.midi_synth.synthesize(ns, sample_rate=SAMPLE_RATE)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    pcm = (audio / peak * 0.8 * 32767 if peak else audio).astype(np.int16)
    scipy.io.wavfile.write(wav_path, SAMPLE_RATE, pcm)
  return synth
