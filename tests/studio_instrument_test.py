"""MidiMe Studio's step 1 in Chromium: a sample, its sliders, a roll that plays.

On the official mel_2bar_small: 16 MusicVAE sliders before any training, a
piano roll whose playhead moves while it plays, a slider that changes the
notes, "Save this sample" named tune-model-sample-date, a tune from an
address on 127.0.0.1, several tunes at once, and after training MidiMe's 4 super sliders on the same
sample. Screenshots go to MIDIME_STUDIO_SCREENSHOTS (else the test's folder).
"""

import datetime
import os
import re
import shutil


from midime_testing import testdata_lib
from studio_test import _keep_gradio_folder
from studio_test import _wait_for
from studio_test import browser  # pylint: disable=unused-import
from studio_test import Page

REEL = testdata_lib.testdata_path('reel_4-4.mid')


def _wait(predicate, what, timeout=120):
  value = _wait_for(predicate, timeout)
  assert value, f'never: {what}'
  return value


def _step_status(page):
  return page.status('sample')


def test_step_one_sample_sliders_roll_save_url_and_super_sliders(
    browser, mel_2bar_small_checkpoint, tmp_path, monkeypatch):  # pylint: disable=redefined-outer-name
  from midime_magenta.studio import page as studio  # pylint: disable=g-import-not-at-top
  shots = type(tmp_path)(os.environ.get('MIDIME_STUDIO_SCREENSHOTS') or
                         tmp_path / 'shots')
  shots.mkdir(parents=True, exist_ok=True)
  served = tmp_path / 'tunes'
  served.mkdir()
  shutil.copy(REEL, served / 'my reel.mid')
  _keep_gradio_folder(monkeypatch)
  server = studio.launch({'mel_2bar_small': mel_2bar_small_checkpoint},
                         folder=str(tmp_path / 'served'),
                         runs_dir=str(tmp_path / 'runs'))
  try:
    page = Page(browser, server.local_url, shots)
    assert page.sliders('sample_slider_') == 0  # Nothing to move yet.
    height = page.driver.execute_script('return document.body.scrollHeight')
    assert height <= 2500, height  # 2.5 screens of 1000 px at 1280 wide.
    page.shot('instrument-0-load')
    assert not any(page.shown(f'#{key}') for key in (  # No empty borders.
        'input', 'untrained', 'before', 'after'))
    assert '--' not in page.find('body').text  # No flags on the page.
    assert not page.find('#train').is_enabled()  # Nothing to learn yet.
    page.click('#another_sample')
    _wait(lambda: 'new sample of MusicVAE' in _step_status(page),
          'the status beside the button')
    first = _wait(lambda: (r := page.roll()) and int(r['drawn']) > 0 and r,
                  'a roll drawn')
    assert page.sliders('sample_slider_') == 16
    assert page.sliders('super_slider_') == 0
    page.playing()
    page.shot('instrument-1-sample-playing')
    page.set_number('#sample_slider_0', -3)
    _wait(lambda: page.roll()['notes'] != first['notes'], 'new notes')
    assert 'at the sliders' in _step_status(page)
    page.click('#save_sample')
    _wait(lambda: 'Saved' in _step_status(page), 'saved')
    links = page.driver.find_elements(page.by.CSS_SELECTOR,
                                      '#kept a[download]')
    names = sorted(a.get_attribute('download') for a in links)
    day = datetime.date.today().isoformat()
    assert names == [f'musicvae-mel_2bar_small-sample-{day}.mid',
                     f'musicvae-mel_2bar_small-sample-{day}.wav'], names
    page.shot('instrument-2-saved')
    with testdata_lib.serving(served) as url:
      box = page.find('#url textarea, #url input')
      box.send_keys(url + '/my%20reel.mid\n')
      said = page.wait_status('my reel.mid: 8 chunks of 2 bars')
    assert 'This is only 16 bars of music' in said and '32 bars or more' in said
    box.clear()
    box.send_keys('ftp://127.0.0.1/x.mid\n')
    page.wait_status('must start with http:// or https://')
    # Several files at once, trained on with the first (8 chunks each).
    folk = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')
    page.find('#more_tunes input[type=file]').send_keys(f'{folk}\n{REEL}')
    said = page.wait_status('3 tunes: ')
    listed = page.find('#more_tunes').text.replace('\n.', '.')  # Both shown.
    assert '0051-0100_0008.mid' in listed and 'reel_4-4.mid' in listed, listed
    assert page.beside('#more_tunes', 'tune')
    chunks = int(re.search(r'3 tunes: (\d+) chunks of 2 bars', said).group(1))
    assert chunks > 16 and 'only' not in said, said  # Enough now.
    page.set_number('#epochs', 20)
    page.click('#train')
    page.wait_status(f'Trained 20 epochs on {chunks} chunks', 'train')
    _wait(lambda: page.sliders('super_slider_') == 4, 'the super sliders')
    _wait(lambda: 'super sliders are here' in _step_status(page),
          'step 1 told')
    before = page.roll()['notes']
    page.set_number('#super_slider_0', 2)
    _wait(lambda: page.roll()['notes'] != before, 'notes from MidiMe')
    assert 'super sliders' in _step_status(page)
    assert page.find('#super_slider_0 input[type=number]').get_attribute(
        'value') == '2'  # Where it was put, not MidiMe's code of the result.
    page.driver.execute_script('window.scrollTo(0, 0);')
    page.shot('instrument-3-super-sliders')
    page.click('#save_sample')
    _wait(lambda: len(page.driver.find_elements(
        page.by.CSS_SELECTOR, '#kept a[download]')) == 4, 'a second save')
    names = sorted(a.get_attribute('download') for a in page.driver
                   .find_elements(page.by.CSS_SELECTOR, '#kept a[download]'))
    assert f'my-reel-mel_2bar_small-sample-{day}.mid' in names, names
  finally:
    server.close()
