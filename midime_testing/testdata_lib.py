"""Paths to the checkout's fixtures and to the `../shared` data beside it,
and helpers that run the installed scripts.

Resolved from this file, never from the current directory, so tests, bin/
and bench/ work from anywhere. Never installed: the wheel holds the library
only.
"""

import contextlib
import importlib.resources
import pathlib
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def testdata_dir():
  """The checkout's `testdata/` folder."""
  return os.path.join(ROOT, 'testdata')


def testdata_path(*parts):
  """Path of a file in `testdata/`."""
  return os.path.join(testdata_dir(), *parts)


def tiny_config(config_name):
  """The config file of a tiny test MusicVAE (`testdata/configs/`): an
  official config's family at z = 32, as `music_vae_hparams`."""
  return testdata_path('configs', f'{config_name}.json')


def tiny_checkpoint(config_name):
  """The bundled tiny checkpoint folder for a `tiny-*` config."""
  return testdata_path('checkpoints', config_name)


def shared_dir():
  """`../shared` beside the checkout, or $MIDIME_SHARED_DIR; None if absent."""
  candidates = [os.environ.get('MIDIME_SHARED_DIR'),
                os.path.join(ROOT, '..', 'shared')]
  for candidate in filter(None, candidates):
    if os.path.isdir(candidate):
      return os.path.abspath(candidate)
  return None


def shared_path(*parts):
  """A path under the shared folder, or None when it is not there."""
  root = shared_dir()
  if root is None:
    return None
  path = os.path.join(root, *parts)
  return path if os.path.exists(path) else None


def official_mel_2bar_small():
  """Prefix of the official mel_2bar_small in ../shared, or None."""
  index = shared_path('checkpoints', 'mel_2bar_small', 'model.ckpt.index')
  return index[:-len('.index')] if index else None


def run_installed_script(name, *args, env=None, timeout=600):
  """Runs an installed console script (midime_train, ...) in a subprocess.

  Returns:
    The `subprocess.CompletedProcess`, text mode, output captured.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  script = os.path.join(os.path.dirname(sys.executable), name)
  full_env = dict(os.environ, **(env or {}))
  return subprocess.run([script, *args], capture_output=True, text=True,
                        env=full_env, timeout=timeout, check=False)


def error_lines(stderr):
  """The lines of a script's stderr that report an error (ours or absl's)."""
  return [line for line in stderr.splitlines() if ': error: ' in line]


_ABSL_LINE = re.compile(r'^[IWEF]\d{4} [\d:.]+ +\d+ ([\w.]+):\d+\] ')


def foreign_lines(stderr):
  """Lines of a script's stderr that are not our own output.

  Ours: absl log lines from our own modules, and our one-line errors.
  Anything else (a library's warning, a native log line, a traceback) is
  foreign.
  """
  package = pathlib.Path(str(importlib.resources.files('midime_magenta')))
  ours = {f.name for f in package.rglob('*.py')}
  foreign = []
  for line in stderr.splitlines():
    match = _ABSL_LINE.match(line)
    if not line.strip() or ': error: ' in line or (
        match and match.group(1) in ours):
      continue
    foreign.append(line)
  return foreign


@contextlib.contextmanager
def serving(folder):
  """Serves `folder` over HTTP on 127.0.0.1 while the block runs; yields
  its base URL (as a checkpoint host would, without the internet)."""
  import functools  # pylint: disable=g-import-not-at-top
  import http.server  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top

  class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(Quiet, directory=str(folder)))
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
  finally:
    httpd.shutdown()
    httpd.server_close()


def make_band_midi(path, bars=18):
  """Writes a 4-track song as real files have them, from the bundled reel.

  The reel's tune on a flute (program 73, instrument 2), a synth bass two
  octaves down on program 87 (outside General MIDI's basses 32-39,
  instrument 1), a piano (program 0) playing a triad on every beat under
  the tune (instrument 0: the first track, and on a program magenta's
  TrioConverter would take as the melody), and a kick/snare/hat beat on
  channel 10. Only a track choice that looks at the music finds the trio.
  """
  import note_seq  # pylint: disable=g-import-not-at-top
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(time=0.0, qpm=120.0)
  ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
  make_trio_midi(None, bars, ns)
  for n in ns.notes:
    if not n.is_drum:
      n.instrument, n.program = ((2, 73) if n.instrument == 0 else (1, 87))
  seconds_per_beat = 0.5
  for beat in range(bars * 4):
    for offset in (0, 4, 7):  # A C major triad around middle C.
      ns.notes.add(pitch=60 + offset, velocity=60,
                   start_time=beat * seconds_per_beat,
                   end_time=(beat + 1) * seconds_per_beat,
                   instrument=0, program=0)
  note_seq.sequence_proto_to_midi_file(ns, path)
  return path


def make_trio_midi(path, bars=18, into=None):
  """Writes a trio (melody, bass on program 33, drums) from the bundled reel.

  The reel's melody, its notes two octaves down as bass, and a kick/snare/hat
  beat: enough for MusicVAE's trio converter to find 16-bar chunks.
  """
  import note_seq  # pylint: disable=g-import-not-at-top
  from midime_magenta import midi_io  # pylint: disable=g-import-not-at-top
  reel = midi_io.read_midi_file(testdata_path('reel_4-4.mid'))
  melody = [(n.pitch, n.start_time, n.end_time) for n in reel.notes
            if not n.is_drum]
  ns = into if into is not None else reel
  seconds_per_bar = 2.0  # 120 qpm, 4/4.
  length = bars * seconds_per_bar
  loops = int(length // reel.total_time) + 1
  del ns.notes[:]
  for k in range(loops):
    for pitch, start, end in melody:
      start += k * 32.0
      if start >= length:
        continue
      for instrument, program, shift in ((0, 0, 0), (1, 33, -24)):
        ns.notes.add(pitch=pitch + shift, velocity=80, start_time=start,
                     end_time=min(end + k * 32.0, length),
                     instrument=instrument, program=program)
  step = seconds_per_bar / 8
  for i in range(bars * 8):
    pitch = (36, 42, 38, 42)[i % 4]
    ns.notes.add(pitch=pitch, velocity=90, start_time=i * step,
                 end_time=i * step + step / 2, instrument=9, is_drum=True)
  ns.total_time = length
  if path is not None:
    note_seq.sequence_proto_to_midi_file(ns, path)
  return path
