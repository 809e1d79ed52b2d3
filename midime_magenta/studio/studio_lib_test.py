"""Tests for studio_lib: what each button of the page does, on the real model.

The browser test (tests/studio_test.py) walks the demo's journey; here every
action is checked for what it shows: the notes listed are the MIDI file's,
the audio lasts as long as the music, steering and rules change the music.
"""

import gc
import html
import json
import os
import re
import shutil
import wave
import weakref

import mido
import note_seq
import numpy as np
import pytest

from midime_magenta import errors
from midime_magenta import midi_io
from midime_magenta.studio import studio_lib
from midime_magenta.studio import studio_server_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


@pytest.fixture(scope='module')
def session(mel_2bar_small_checkpoint, tmp_path_factory):
  folder = tmp_path_factory.mktemp('studio')
  shared = studio_server_lib.Studio({'mel_2bar_small': mel_2bar_small_checkpoint},
                             str(folder), str(folder / 'runs'))
  s = shared.session('tab-a', 'mel_2bar_small')
  s.open_tune(REEL)
  s.train(30, seed=0)
  return s


def test_training_is_the_apis_on_the_file(session):
  """The tab cuts and encodes the tune when it opens; training then is
  `Personalizer.train` on the file, epoch for epoch."""
  folk = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')
  tab = session.studio.session('tab-api', 'mel_2bar_small')
  tab.open_tune(folk)
  mine = tab.train(30, seed=0)[0]
  api = session.studio.personalizer('mel_2bar_small')
  theirs = api.train(folk, epochs=30, seed=0, progress=False)
  np.testing.assert_allclose(mine['loss'], theirs['loss'], rtol=1e-5)
  np.testing.assert_allclose(tab.personalizer.training_data.z,
                             api.training_data.z, rtol=1e-5, atol=1e-6)
  assert tab.personalizer.voicing == api.voicing
  assert tab.personalizer.training_data.sources == [  # Named as uploaded.
      os.path.basename(source) for source in api.training_data.sources]
  with pytest.raises(errors.UsageError, match='z holds 3 latents for the '):
    api.train(tab.chunked, z=tab.z[:3], epochs=1, progress=False)


def test_warnings_heard_are_this_threads_in_the_pages_words():
  from absl import logging  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  with studio_lib.warnings_heard() as heard:
    logging.warning("'/tmp/up/x1/a b.mid': 3/4 (raise --variation to move)")
    logging.info('not a warning')
    other = threading.Thread(target=lambda: logging.warning('elsewhere'))
    other.start()
    other.join()
  logging.warning('after')
  assert heard == ["'a b.mid': 3/4 (raise the Variation slider to move)"]

def _check_shown(shown, chunks=None):
  """The files of a result hold what the page lists and plays."""
  ns = note_seq.midi_file_to_note_sequence(shown.midi)
  assert studio_lib.notes_text(ns) == shown.notes != ''
  with wave.open(shown.wav) as wav:
    seconds = wav.getnframes() / wav.getframerate()
  # FluidSynth plays every voice out: a cymbal rings for seconds.
  tail = 12 if any(n.is_drum for n in ns.notes) else 3
  assert ns.total_time <= seconds <= ns.total_time + tail
  # The roll that plays in the page holds the notes it plays.
  drawn = json.loads(html.unescape(re.search(r'data-notes="([^"]*)"',
                                             shown.roll).group(1)))
  assert sorted((n[0], round(n[1], 2)) for n in drawn) == sorted(
      (n.pitch, round(n.start_time, 2)) for n in ns.notes
      if n.start_time < studio_lib.PLAYED_SECONDS) != []
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
  untrained, before, after = session.reconstructions()
  for shown in (untrained, before, after):
    _check_shown(shown, studio_lib.CHUNKS_SHOWN)
  assert untrained.notes != after.notes  # (personalizer_test: how far)
  mine, theirs = session.sample(seed=1)
  _check_shown(mine, 5)
  _check_shown(theirs, 5)
  assert mine.notes != theirs.notes
  slid = [_check_shown(session.midime_slider(v), 1) for v in
          ([-2, 0, 0, 0], [2, 0, 0, 0])]
  assert slid[0].notes != slid[1].notes
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


def test_runs_are_saved_and_loaded_by_name_in_the_library(session):
  library = session.studio.runs_dir
  assert session.save(' reel run ') == "Saved as 'reel run' in the runs library."
  assert session.studio.run_names() == ['reel run']
  other = session.studio.session('tab-b', 'mel_2bar_small')
  assert other.personalizer.music_vae is session.personalizer.music_vae
  # A name another tab took is refused, whoever saved it; the run stays.
  weights = sorted(os.listdir(os.path.join(library, 'reel run')))
  with pytest.raises(errors.UsageError, match="already a run named 'reel "
                     "run'; choose another name"):
    session.save('reel run')
  assert sorted(os.listdir(os.path.join(library, 'reel run'))) == weights
  for name in ('../x', '/etc', 'a/b', '.hidden', '', 'x' * 65):
    with pytest.raises(errors.UsageError, match='Name the run with'):
      session.save(name)
  with pytest.raises(errors.UsageError, match="no run named 'nope'; pick"):
    other.load('nope')
  with pytest.raises(errors.UsageError, match='Pick a saved run'):
    other.load(None)
  assert os.listdir(library) == ['reel run']
  fresh = session.studio.session('tab-c', 'mel_2bar_small')
  message = fresh.load('reel run')
  assert message.startswith("Loaded 'reel run': a MidiMe of 4 ")
  np.testing.assert_allclose(fresh.personalizer.training_data.z,
                             session.personalizer.training_data.z)
  _check_shown(fresh.sample(seed=0)[0], 5)
  # Closing the tabs removes their files, never the library's runs, and lets
  # their models go.
  model = weakref.ref(fresh.personalizer.midime)
  for tab in (other, fresh):
    session.studio.close(tab)
    assert not os.path.exists(tab.folder)
  assert session.studio.run_names() == ['reel run']
  gc.collect()
  assert model() is None


def _midi(path, events, tpq=96):
  midi = mido.MidiFile(ticks_per_beat=tpq)
  midi.tracks.append(mido.MidiTrack(events))
  midi.save(path)
  return path


def test_hostile_tunes_are_refused_before_they_are_read(session, tmp_path):
  """Round four's bombs: each is one sentence, and nothing is rendered."""
  on = lambda pitch, ticks=0: mido.Message('note_on', note=pitch, velocity=90,
                                           time=ticks)
  off = lambda pitch, ticks: mido.Message('note_on', note=pitch, velocity=0,
                                          time=ticks)
  hours = lambda h: int(h * 3600 * 192)  # Ticks at 120 qpm, 96 a beat.
  two = _midi(str(tmp_path / 'two.mid'), [on(60), off(60, 96),
                                          on(62, hours(23 / 6)), off(62, 96)])
  held = _midi(str(tmp_path / 'held.mid'), [on(60), off(60, hours(3.9))])
  many = _midi(str(tmp_path / 'many.mid'), [
      m for i in range(550_000) for m in (on(60 + i % 12), off(60 + i % 12, 1))])
  assert os.path.getsize(two) < 60 and os.path.getsize(held) < 60
  assert os.path.getsize(many) < studio_lib.MAX_UPLOAD_BYTES
  before = sorted(os.listdir(session.folder))
  for path, message in (
      (two, "'two.mid' lasts 3 h 50 min; MidiMe Studio takes tunes of up to "
            '30 minutes and 50,000 notes.'),
      (held, "'held.mid' lasts 3 h 54 min; MidiMe Studio takes tunes of up "
             'to 30 minutes and 50,000 notes.'),
      (many, "'many.mid' holds more than 250,000 MIDI events; MidiMe Studio "
             'takes tunes of up to 30 minutes and 50,000 notes.')):
    with pytest.raises(midi_io.InputError) as raised:
      session.open_tune(path, os.path.basename(path))
    assert str(raised.value) == message
  assert sorted(os.listdir(session.folder)) == before  # Nothing rendered.
  assert session.tune_name == 'reel_4-4.mid'  # The tab's tune stays.
  assert studio_lib.midi_events(open(REEL, 'rb').read(), 10**6) == len(
      mido.MidiFile(REEL).tracks[0]) + sum(
          len(t) for t in mido.MidiFile(REEL).tracks[1:])


def test_a_long_tune_is_played_and_drawn_for_two_minutes(session, tmp_path):
  notes = [m for i in range(400) for m in (
      mido.Message('note_on', note=60 + i % 12, velocity=90, time=0),
      mido.Message('note_on', note=60 + i % 12, velocity=0, time=96))]
  path = _midi(str(tmp_path / 'long.mid'), notes)  # 400 beats: 200 s.
  fresh = session.studio.session('tab-long', 'mel_2bar_small')
  shown = fresh.open_tune(path)
  assert shown.cut
  whole = note_seq.midi_file_to_note_sequence(shown.midi)
  assert len(whole.notes) == 400 and whole.total_time == pytest.approx(200)
  with wave.open(shown.wav) as wav:
    seconds = wav.getnframes() / wav.getframerate()
  assert studio_lib.PLAYED_SECONDS <= seconds <= studio_lib.PLAYED_SECONDS + 3
  assert len(shown.notes.splitlines()) == 240  # The notes played.
  session.studio.close(fresh)


def test_tabs_are_capped_and_the_idle_longest_makes_room(session):
  shared = studio_server_lib.Studio(
      {'mel_2bar_small': session.personalizer.checkpoint_file},
      os.path.dirname(session.folder), max_tabs=2)
  first = shared.session('1', 'mel_2bar_small')
  second = shared.session('2', 'mel_2bar_small')
  with shared.serving(second):  # Busy: never taken.
    third = shared.session('3', 'mel_2bar_small')
    assert first.evicted and first.closed and not second.closed
    assert not os.path.exists(first.folder)
    with shared.serving(third), pytest.raises(errors.UsageError,
                                              match='busy with 2 tabs'):
      shared.session('4', 'mel_2bar_small')
  with pytest.raises(errors.UsageError, match='This tab was idle the longest'):
    studio_lib.need(first)
  assert sorted(shared.tabs) == ['2', '3']
  # A tab closed while it works keeps its files until the work ends.
  with shared.serving(second):
    shared.close_tab('2')
    assert os.path.exists(second.folder)
  assert not os.path.exists(second.folder) and sorted(shared.tabs) == ['3']


def test_an_upload_goes_with_the_last_tab_that_opened_it(session, tmp_path):
  # Gradio's folder: one file for each distinct upload, shared by the tabs
  # that upload the same bytes; this server's folder sits inside it.
  (tmp_path / 'server').mkdir()
  upload = tmp_path / '3f2a' / 'my reel.mid'
  upload.parent.mkdir()
  shutil.copy(REEL, upload)
  shared = studio_server_lib.Studio(
      {'mel_2bar_small': session.personalizer.checkpoint_file},
      str(tmp_path / 'server'), str(tmp_path / 'runs'))
  a, b = (shared.session(t, 'mel_2bar_small') for t in 'ab')
  a.open_tune(str(upload))
  b.open_tune(str(upload))
  shared.close_tab('a')
  assert upload.exists()  # Tab b holds it still.
  shared.close_tab('b')
  assert not upload.parent.exists()
  assert os.path.exists(REEL)  # The bundled tune is not an upload.
  c = shared.session('c', 'mel_2bar_small')
  c.open_tune(REEL)
  shared.close_tab('c')
  assert os.path.exists(REEL)
  d = shared.session('d', 'mel_2bar_small')
  with pytest.raises(midi_io.InputError,
                     match="my reel.mid is no longer on the server; upload "
                     "it again"):
    d.open_tune(str(upload), 'my reel.mid')
  # An upload refused on a tab's first open: the page keeps no session, so
  # the tab's next one closes it (with its upload).
  refused = tmp_path / '9c1e' / 'notes.mid'
  refused.parent.mkdir()
  refused.write_bytes(b'not MIDI')
  with pytest.raises(midi_io.InputError):
    shared.session('e', 'mel_2bar_small').open_tune(str(refused))
  shared.session('e', 'mel_2bar_small').open_tune(REEL)
  assert not refused.parent.exists()


def test_page_messages_name_controls_not_flags():
  words = studio_lib.page_words
  assert words("its melody and bass tracks hold no notes in the model's pitch "
               'range (pick the tracks with --melody_track, --bass_track and '
               '--drum_track)') == (
                   "its melody and bass tracks hold no notes in the model's "
                   'pitch range (pick the tracks with the Melody track menu, '
                   'the Bass track menu and the Drum track menu)')
  assert words('Training diverged at epoch 3 (the loss became nan); lower the '
               'learning rate from 0.001 to 0.0001 or less, e.g. '
               '--hparams=learning_rate=0.0001.') == (
                   'Training diverged at epoch 3 (the loss became nan).')
  assert words('x has no pitched instrument 7 for --melody_track; it has '
               '[0].') == ('x has no pitched instrument 7 for the Melody track '
                           'menu; it has [0].')


def test_drums_train_and_play_drums(tmp_path):
  """The third family: drums_2bar's layout (random weights) on a drum track."""
  from midime_testing import tfjs_testdata_lib  # pylint: disable=g-import-not-at-top
  folder = tmp_path / 'drums_2bar_lokl_small'
  tfjs_testdata_lib.make_checkpoint(str(folder), 'drums_2bar_lokl_small')
  work = tmp_path / 'work'
  work.mkdir()
  s = studio_server_lib.Studio({'drums': str(folder)}, str(work)).session('t', 'drums')
  assert s.kind == 'drums'
  s.open_tune(testdata_lib.testdata_path('drums_only.mid'))
  assert s.tracks == {}
  assert sum(c.num_chunks for c in s.chunked) > 0
  s.train(20, seed=0)
  mine, theirs = s.sample(seed=0)
  for shown in (mine, theirs):
    ns = _check_shown(shown, studio_lib.CHUNKS_SHOWN)
    assert ns.notes and all(n.is_drum for n in ns.notes)


def test_the_example_tune_ships_with_the_package():
  from midime_magenta.studio import page  # pylint: disable=g-import-not-at-top
  assert page.DEMO_TUNES and all(
      len(note_seq.midi_file_to_note_sequence(path).notes) > 50
      for path in page.DEMO_TUNES.values())


def test_checkpoints_are_named_by_catalogue_name_or_folder(
    mel_2bar_small_checkpoint):
  name = studio_server_lib.checkpoint_name
  assert name(mel_2bar_small_checkpoint) == 'mel_2bar_small'  # .../model.ckpt
  assert name(os.path.dirname(mel_2bar_small_checkpoint) + '/') == (
      'mel_2bar_small')
  assert name('trio_4bar') == 'trio_4bar'


def test_checkpoints_sharing_a_name_are_refused_not_dropped(tmp_path):
  for bundle in ('cat-mel_2bar_big.tar', 'hierdec-trio_16bar.tar'):
    (tmp_path / bundle).write_bytes(b'')  # Named only: not read.
  for step in (1000, 2000):
    (tmp_path / 'run' / f'model.ckpt-{step}.index').parent.mkdir(exist_ok=True)
    (tmp_path / 'run' / f'model.ckpt-{step}.index').write_bytes(b'')
  assert studio_server_lib.checkpoint_names(
      [tmp_path / 'cat-mel_2bar_big.tar', tmp_path / 'hierdec-trio_16bar.tar',
       'trio_4bar']) == {
           'cat-mel_2bar_big': tmp_path / 'cat-mel_2bar_big.tar',
           'hierdec-trio_16bar': tmp_path / 'hierdec-trio_16bar.tar',
           'trio_4bar': 'trio_4bar'}
  with pytest.raises(errors.UsageError, match="both be called 'run'"):
    studio_server_lib.checkpoint_names(
        [tmp_path / 'run' / 'model.ckpt-1000', tmp_path / 'run' /
         'model.ckpt-2000'])
