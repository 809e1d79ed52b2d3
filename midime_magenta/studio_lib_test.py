"""Tests for studio_lib: what each button of the page does, on the real model.

The browser test (tests/studio_test.py) walks the demo's journey; here every
action is checked for what it shows: the notes listed are the MIDI file's,
the audio lasts as long as the music, steering and rules change the music.
"""

import os
import wave

import note_seq
import numpy as np
import PIL.Image
import pytest

from midime_magenta import midi_io
from midime_magenta import studio_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


@pytest.fixture(scope='module')
def session(mel_2bar_small_checkpoint, tmp_path_factory):
  studio = studio_lib.Studio({'mel_2bar_small': mel_2bar_small_checkpoint},
                             str(tmp_path_factory.mktemp('studio')))
  s = studio_lib.Session(studio, 'mel_2bar_small')
  s.open_tune(REEL)
  s.train(30, seed=0)
  return s


def _check_shown(shown, chunks=None):
  """The files of a result hold what the page lists and plays."""
  ns = note_seq.midi_file_to_note_sequence(shown.midi)
  assert studio_lib.notes_text(ns) == shown.notes != ''
  with wave.open(shown.wav) as wav:
    seconds = wav.getnframes() / wav.getframerate()
  # FluidSynth plays every voice out: a cymbal rings for seconds.
  tail = 12 if any(n.is_drum for n in ns.notes) else 3
  assert ns.total_time <= seconds <= ns.total_time + tail
  with PIL.Image.open(shown.roll) as roll:  # A drawn piano roll, not a stub.
    assert roll.format == 'PNG' and roll.width == 800 and roll.height > 100
  if chunks:  # Slots of 2 bars at the reel's 120 qpm.
    assert ns.total_time <= chunks * 4.0 + 1e-3
  return ns


def test_the_input_is_shown_whole_and_chunked(session):
  assert session.kind == 'melody'
  assert session.tracks == {'melody': 0}
  assert sum(c.num_chunks for c in session.chunked) == 8
  assert 'reel_4-4.mid: 8 chunks of 2 bars' in session.describe_input()
  shown = session.chunk(melody=0)
  ns = _check_shown(shown)
  assert len(ns.notes) == len(midi_io.read_midi_file(REEL).notes)


def test_each_action_shows_music(session):
  before, after = session.reconstructions()
  _check_shown(before, studio_lib.CHUNKS_SHOWN)
  _check_shown(after, studio_lib.CHUNKS_SHOWN)
  mine, theirs = session.sample(seed=1)
  _check_shown(mine, 5)
  _check_shown(theirs, 5)
  assert mine.notes != theirs.notes
  slid = [_check_shown(session.midime_slider(v), 1) for v in
          ([-2, 0, 0, 0], [2, 0, 0, 0])]
  assert slid[0].notes != slid[1].notes
  _check_shown(session.music_vae_slider([1.0, 0, 0, -1.0]), 1)
  piece = _check_shown(session.piece(4, 0.3, seed=0), 4)
  assert piece.notes


def test_steering_moves_the_same_draws(session):
  session.sample(seed=2)
  plain = session.steer({})
  busier = session.steer({'note_density': 2.0})
  assert len(busier.sequence.notes) > len(plain.sequence.notes)
  report = session.constrain('key:C')
  assert report.startswith('Rules key:C: obeyed by ')
  ruled = session.steer({})
  c_major = {0, 2, 4, 5, 7, 9, 11}
  share = np.mean([n.pitch % 12 in c_major for n in ruled.sequence.notes])
  assert share >= 0.9, share


def test_a_run_saved_from_the_page_loads_in_another_tab(session, tmp_path):
  assert session.save(str(tmp_path / 'run')).startswith('Saved to ')
  other = studio_lib.Session(session.studio, 'mel_2bar_small')
  assert other.personalizer.music_vae is session.personalizer.music_vae
  message = other.load(str(tmp_path / 'run'))
  assert message.startswith(f'Loaded {tmp_path / "run"}: a MidiMe of 4 ')
  np.testing.assert_allclose(other.personalizer.training_data.z,
                             session.personalizer.training_data.z)
  _check_shown(other.sample(seed=0)[0], 5)


def test_uploads_are_bounded_and_checked(session, tmp_path):
  big = tmp_path / 'big.mid'
  big.write_bytes(b'MThd' + b'\0' * studio_lib.MAX_UPLOAD_BYTES)
  with pytest.raises(midi_io.InputError, match='MidiMe Studio takes MIDI '
                     'files up to 4 MB'):
    session.open_tune(str(big), 'big.mid')
  fresh = studio_lib.Session(session.studio, 'mel_2bar_small')
  with pytest.raises(studio_lib.errors.UsageError, match='Train MidiMe'):
    fresh.sample()
  shown = fresh.prior(seed=0)
  fresh.close()  # A closed tab's files go; nothing else of the server's.
  assert not os.path.exists(shown.midi) and os.path.exists(session.folder)


def test_drums_train_and_play_drums(tmp_path):
  """The third family: drums_2bar's layout (random weights) on a drum track."""
  from midime_testing import tfjs_testdata_lib  # pylint: disable=g-import-not-at-top
  folder = tmp_path / 'drums_2bar_lokl_small'
  tfjs_testdata_lib.make_checkpoint(str(folder), 'drums_2bar_lokl_small')
  studio = studio_lib.Studio({'drums': str(folder)}, str(tmp_path / 'work'))
  s = studio_lib.Session(studio, 'drums')
  assert s.kind == 'drums'
  s.open_tune(testdata_lib.testdata_path('drums_only.mid'))
  assert s.tracks == {}
  assert sum(c.num_chunks for c in s.chunked) > 0
  s.train(20, seed=0)
  mine, theirs = s.sample(seed=0)
  for shown in (mine, theirs):
    ns = _check_shown(shown, studio_lib.CHUNKS_SHOWN)
    assert ns.notes and all(n.is_drum for n in ns.notes)
