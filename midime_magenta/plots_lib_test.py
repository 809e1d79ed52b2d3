"""Tests for plots_lib: the pictures show the notes where they are."""

import note_seq
import numpy as np
import pytest
from PIL import Image

from midime_magenta import midi_io
from midime_magenta import plots_lib
from midime_testing import testdata_lib

# pylint: disable=protected-access
BLUE = np.array(plots_lib._PALETTE[3 * plots_lib._BLUE:3 * plots_lib._BLUE + 3])
RED = np.array(plots_lib._PALETTE[3 * plots_lib._RED:3 * plots_lib._RED + 3])
# pylint: enable=protected-access


def _pixels(path, color):
  image = np.asarray(Image.open(path).convert('RGB')).astype(int)
  ys, xs = np.nonzero(np.all(image == color, axis=-1))
  return xs, ys, image.shape


def test_piano_roll_puts_each_note_in_its_time_and_lane(tmp_path):
  ns = note_seq.NoteSequence(total_time=4.0)
  ns.notes.add(pitch=60, start_time=0.0, end_time=1.0, velocity=80)
  ns.notes.add(pitch=72, start_time=3.0, end_time=4.0, velocity=80)
  ns.notes.add(pitch=36, start_time=2.0, end_time=2.25, velocity=80,
               is_drum=True, instrument=9)
  path = plots_lib.plot_piano_roll(ns, str(tmp_path / 'roll.png'), 'x')
  xs, ys, (height, width, _) = _pixels(path, BLUE)
  assert height > 2 * plots_lib._LANE_HEIGHT  # pylint: disable=protected-access
  axis = plots_lib._PITCH_AXIS  # pylint: disable=protected-access
  early = xs < axis + 0.27 * (width - axis)
  late = xs > axis + 0.73 * (width - axis)
  assert early.any() and late.any() and not (~early & ~late).any()
  # The higher note (72, late) is drawn higher up than the lower one (60).
  assert ys[late].mean() < ys[early].mean()
  drum_xs, drum_ys, _ = _pixels(path, RED)
  assert drum_xs.min() > axis + (width - axis) / 2 - 10
  assert drum_ys.min() > ys.max()


def test_piano_roll_of_a_trio_has_three_lanes(tmp_path):
  trio = testdata_lib.make_trio_midi(str(tmp_path / 'trio.mid'))
  ns = note_seq.midi_file_to_note_sequence(trio)
  path = plots_lib.plot_piano_roll(ns, str(tmp_path / 'trio.png'))
  height = np.asarray(Image.open(path)).shape[0]
  lanes = (height - plots_lib._MARGIN) // plots_lib._LANE_HEIGHT  # pylint: disable=protected-access
  assert lanes == 3


def test_loss_curve_falls_where_the_loss_falls(tmp_path):
  epochs = np.arange(1, 101)
  history = {'loss': list(30 / np.sqrt(epochs) + 5),
             'reconstruction_loss': list(28 / np.sqrt(epochs) + 1),
             'kl_loss': list(0.4 + 4 * (1 - np.exp(-epochs / 30)))}
  path = plots_lib.plot_loss_curve(history, str(tmp_path / 'loss.png'))
  xs, ys, (_, width, _) = _pixels(path, BLUE)  # The total loss is blue.
  curve = xs < width - 160  # Leave out the legend's swatch.
  early = ys[curve & (xs < 120)].mean()
  late = ys[curve & (xs > width - 200)].mean()
  assert early < late  # Higher loss is higher up: the line goes down.
  orange = np.array(plots_lib._PALETTE[15:18])  # pylint: disable=protected-access
  kx, ky, _ = _pixels(path, orange)
  kl = kx < width - 160
  assert ky[kl & (kx < 120)].mean() > ky[kl & (kx > width - 200)].mean()


def test_piano_roll_names_its_pitches_and_bars(tmp_path):
  assert plots_lib.pitch_labels(58, 74) == [(60, 'C4'), (72, 'C5')]
  assert plots_lib.pitch_labels(62, 70) == [(62, 'D4'), (70, 'A#4')]
  ns = note_seq.NoteSequence(total_time=8.0)
  ns.notes.add(pitch=60, start_time=0.0, end_time=1.0, velocity=80)
  ns.notes.add(pitch=72, start_time=7.0, end_time=8.0, velocity=80)
  path = plots_lib.plot_piano_roll(ns, str(tmp_path / 'roll.png'))
  image = np.asarray(Image.open(path).convert('RGB')).astype(int)
  black = np.all(image == 0, axis=-1)
  axis = plots_lib._PITCH_AXIS  # pylint: disable=protected-access
  # Names in the left margin: text at the rows of C4 and C5 (and no notes).
  rows = np.nonzero(black[:, :axis - 5].any(axis=1))[0]
  blue_rows = np.nonzero(np.all(image == BLUE, axis=-1).any(axis=1))[0]
  for pitch_row in (blue_rows.min(), blue_rows.max()):  # C5 top, C4 bottom.
    assert np.abs(rows - pitch_row).min() <= 6, (rows, pitch_row)
  assert not np.all(image[:, :axis - 5] == BLUE, axis=-1).any()
  # Bar numbers along the bottom margin.
  assert black[-plots_lib._TIME_AXIS:, axis:].any()  # pylint: disable=protected-access


def test_loss_curve_labels_its_axes(tmp_path):
  path = plots_lib.plot_loss_curve(
      {'loss': [10, 5, 3], 'reconstruction_loss': [8, 4, 2],
       'kl_loss': [2, 1, 1]}, str(tmp_path / 'loss.png'))
  image = np.asarray(Image.open(path).convert('RGB')).astype(int)
  black = np.all(image == 0, axis=-1)
  bottom = plots_lib._PLOT_BOX[3]  # pylint: disable=protected-access
  # The 'epoch' label sits below the tick numbers, centred.
  assert black[bottom + 20:, 300:400].any()



def _page_rolls(driver):
  return driver.execute_script("""
    return [...document.querySelectorAll('.midime-roll')].map(el => {
      const c = el.querySelector('canvas');
      const px = c ? c.getContext('2d').getImageData(0, 0, c.width, c.height)
          .data : [];
      let blue = 0, red = 0;
      for (let i = 0; i < px.length; i += 4) {
        blue += px[i] == 31 && px[i + 1] == 119 && px[i + 2] == 180;
        red += px[i] == 214 && px[i + 1] == 39 && px[i + 2] == 40;
      }
      return {drawn: el.dataset.drawn, state: el.dataset.state,
              position: parseFloat(el.dataset.position || '-1'),
              head: el.querySelector('.midime-playhead').style.left,
              blue: blue, red: red};
    });""")


def test_a_roll_in_a_gradio_page_draws_plays_and_follows_its_audio(tmp_path):
  """In Chromium: the notes drawn, play moves the playhead on the audio
  clock, and a roll the server replaces is drawn anew (the old one stops)."""
  gr = pytest.importorskip('gradio')
  from midime_testing import browser_lib  # pylint: disable=g-import-not-at-top
  if not browser_lib.available():
    pytest.skip('Chromium is not installed.')
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top
  reel = midi_io.read_midi_file(testdata_lib.testdata_path('reel_4-4.mid'))
  trio = note_seq.NoteSequence(total_time=2.0)
  trio.tempos.add(qpm=120)
  for i, (pitch, drum, program) in enumerate([(72, False, 0), (40, False, 33),
                                              (36, True, 0)]):
    trio.notes.add(pitch=pitch, start_time=0.5 * i, end_time=0.5 * i + 0.5,
                   velocity=90, is_drum=drum, instrument=[0, 1, 9][i],
                   program=program)
  with gr.Blocks() as demo:
    roll = gr.HTML(plots_lib.roll_html(reel))
    gr.Button('another', elem_id='another').click(
        lambda: plots_lib.roll_html(trio), None, roll)
  demo.launch(server_name='127.0.0.1', prevent_thread_lock=True, quiet=True,
              head=plots_lib.roll_head())
  driver = browser_lib.chromium(tmp_path / 'profile')
  try:
    driver.get(demo.local_url)
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: _page_rolls(d) and _page_rolls(d)[0]['drawn'])
    first = _page_rolls(driver)[0]
    assert first['drawn'] == str(len(reel.notes)) and first['blue'] > 1000
    assert first['red'] == 0 and first['state'] == 'stopped'
    driver.find_element('css selector', '.midime-roll .midime-play').click()
    wait.until(lambda d: _page_rolls(d)[0]['position'] > 0.2)
    early = _page_rolls(driver)[0]
    wait.until(lambda d: _page_rolls(d)[0]['position'] > early['position'] + 1)
    late = _page_rolls(driver)[0]
    assert early['state'] == late['state'] == 'playing'
    assert float(late['head'][:-1]) > float(early['head'][:-1]) > 0
    driver.find_element('id', 'another').click()
    wait.until(lambda d: _page_rolls(d)[0]['drawn'] == '3')
    trio_roll = _page_rolls(driver)[0]
    assert trio_roll['red'] > 0 and trio_roll['blue'] > 0
    assert trio_roll['state'] == 'stopped'
    assert driver.execute_script(
        'return document.querySelectorAll(".midime-playhead").length') == 1
  finally:
    driver.quit()
    demo.close()
