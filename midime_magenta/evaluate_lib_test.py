"""Tests for evaluate_lib on the official mel_2bar_small and a real tune."""

import json
import math
import os

import note_seq
import numpy as np
import pytest
from PIL import Image

from midime_magenta import evaluate_lib
from midime_magenta import novelty_lib
from midime_magenta import plots_lib
from midime_magenta import personalizer as personalizer_lib
from midime_testing import testdata_lib

TUNE = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')


@pytest.fixture(scope='module')
def report(mel_2bar_small):
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  p.train(TUNE, epochs=100, seed=0)
  return evaluate_lib.evaluate(p, TUNE, num_samples=60, seed=0)


def test_midime_is_closer_to_the_input_than_the_prior(report):
  measures = report['measures']
  assert measures['latent_nn']['closer'] == 'MidiMe'
  note_level = [m for m in evaluate_lib.MEASURES if m != 'latent_nn']
  wins = sum(measures[m]['closer'] == 'MidiMe' for m in note_level)
  assert wins > len(note_level) / 2, measures


def test_reconstruction_f1_is_reported(report):
  f1 = report['reconstruction_f1']
  assert 0.5 < f1['music_vae'] <= 1.0
  assert 0.0 < f1['midime'] <= 1.0


def test_table_and_files(report, tmp_path):
  table = evaluate_lib.format_table(report)
  assert all(m in table for m in evaluate_lib.MEASURES)
  json_path, sheet = evaluate_lib.write_report(report, str(tmp_path))
  data = json.load(open(json_path))
  assert 'sequences' not in data and data['num_samples'] == 60
  # Each group's notes in its own colour, inside its own row of panels (the
  # input's row is black, as the text is; the three rows below it are checked).
  image = np.asarray(Image.open(sheet).convert('RGB')).astype(int)
  palette = plots_lib._PALETTE  # pylint: disable=protected-access
  height = plots_lib._SHEET_PANEL[1]  # pylint: disable=protected-access
  for row, colour in enumerate((plots_lib._PURPLE, plots_lib._BLUE,  # pylint: disable=protected-access
                                plots_lib._DARK), start=1):  # pylint: disable=protected-access
    ys = np.nonzero(np.all(image == palette[3 * colour:3 * colour + 3],
                           axis=-1).any(axis=1))[0]
    top = plots_lib._MARGIN + row * height  # pylint: disable=protected-access
    assert len(ys) >= 4 and top <= ys.min() and ys.max() < top + height, (
        row, ys)


def test_note_statistics_and_f1_on_known_notes():
  ns = note_seq.NoteSequence()
  for i, pitch in enumerate([60, 62, 64, 60]):
    ns.notes.add(pitch=pitch, start_time=i * 0.5, end_time=i * 0.5 + 0.5)
  stats = evaluate_lib.note_statistics([ns], chunk_bars=2)
  assert stats['note_density'] == 2.0 and stats['pitch_range'] == 4.0
  assert stats['pitch_classes'][0] == 0.5
  assert [stats['onsets'][s] for s in (0, 4, 8, 12)] == [0.25] * 4
  assert novelty_lib.note_f1(ns, ns) == 1.0
  empty = note_seq.NoteSequence()
  assert novelty_lib.note_f1(ns, empty) == 0.0
  assert math.isnan(evaluate_lib.note_statistics([empty], 2)['pitch_range'])


def test_midime_evaluate_script(mel_2bar_small_checkpoint, tmp_path):
  run_dir = str(tmp_path / 'run')
  train = testdata_lib.run_installed_script(
      'midime_train', '--config=cat-mel_2bar_small',
      f'--checkpoint_file={mel_2bar_small_checkpoint}', f'--input_midi={TUNE}',
      f'--run_dir={run_dir}', '--seed=0')
  assert train.returncode == 0, train.stderr
  result = testdata_lib.run_installed_script(
      'midime_evaluate', '--config=cat-mel_2bar_small',
      f'--checkpoint_file={mel_2bar_small_checkpoint}', f'--run_dir={run_dir}',
      f'--input_midi={TUNE}', '--num_samples=20')
  assert result.returncode == 0, result.stderr
  assert 'latent_nn' in result.stdout and 'reconstruction F1' in result.stdout
  assert os.path.exists(os.path.join(run_dir, 'evaluation', 'comparison.png'))


def test_copy_share_counts_samples_that_match_an_input_chunk():
  def chunk(pitches):
    ns = note_seq.NoteSequence()
    for i, p in enumerate(pitches):
      ns.notes.add(pitch=p, start_time=i * 0.5, end_time=i * 0.5 + 0.4,
                   velocity=80)
    return ns

  inputs = [chunk([60, 62, 64, 65]), chunk([67, 69, 71, 72])]
  copied = chunk([60, 62, 64, 65])
  nearly = chunk([60, 62, 64, 66])  # 3 of 4 notes: F1 0.75, not a copy.
  new = chunk([50, 52, 54, 56])
  assert novelty_lib.CopyCheck(inputs).share([copied, nearly, new, new]) == 0.25
  assert novelty_lib.CopyCheck(inputs).share([new]) == 0.0


def test_too_little_music_says_how_much_is_enough():
  assert novelty_lib.too_little(novelty_lib.ENOUGH_CHUNKS, 2) is None
  message = novelty_lib.too_little(3, 2)
  assert message.startswith('This is only 6 bars of music') and (
      '32 bars or more' in message)
