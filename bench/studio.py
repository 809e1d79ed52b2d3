"""MidiMe Studio's figures, measured in Debian's chromium (bin/bench --only=studio).

- slider: moving a MidiMe slider (release) until the page holds the new audio,
  mel_2bar_small, 2 cores; median and worst of several moves.
- training: a 3-minute tune, 100 epochs, through the page (click to
  "Trained": chunking, encoding, training) against `Personalizer.train` on the
  same tune in the same process; the best of 3 after one more (the first in a
  process also pays TensorFlow's first traces; reported too), each after 5 s
  for the browser to finish drawing.
- memory: the server's resident memory with 5 tabs (sessions) that have each
  trained a model on the 3-minute tune, against the server with none.
"""

import os
import re
import resource
import tempfile
import time

from midime_testing import browser_lib



def _rss_mb():
  with open('/proc/self/status', encoding='utf-8') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wait(predicate, timeout=600):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(0.02)
  raise TimeoutError('the page did not answer')


def bench_studio(ckpt, tune, moves=6):
  """The three figures of issue 25 (see module doc)."""
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from midime_magenta import studio  # pylint: disable=g-import-not-at-top
  from midime_magenta import studio_lib  # pylint: disable=g-import-not-at-top
  if not browser_lib.available():
    return {'skipped': 'apt-get install chromium chromium-driver'}
  work = tempfile.mkdtemp(prefix='bench_studio_')
  page = studio.launch({'mel_2bar_small': ckpt}, folder=work)
  driver = browser_lib.chromium(os.path.join(work, 'profile'))
  find = lambda css: driver.find_elements(By.CSS_SELECTOR, css)  # pylint: disable=g-long-lambda
  status = lambda: (find('#status') or [None])[0]  # pylint: disable=g-long-lambda
  try:
    driver.get(page.local_url)
    _wait(lambda: status() and 'Pick a model' in status().text)
    find('#upload input[type=file]')[0].send_keys(tune)
    _wait(lambda: 'chunks of 2 bars' in status().text)
    button = find('#train')[0]
    driver.execute_script('arguments[0].scrollIntoView();', button)
    page_runs = []
    for _ in range(4):  # The first pays the process's first trace.
      time.sleep(5)  # The browser done drawing the last results' waveforms.
      started = time.perf_counter()
      button.click()
      # The first word of the new status (Gradio prefixes a timer while it
      # works; "Below" comes only with the reconstructions after it).
      trained = _wait(lambda: (text := status().text).startswith(
          'Trained') and 'Below' not in text and text)
      page_runs.append(time.perf_counter() - started)
      server_training = float(re.search(r'in ([\d.]+) s', trained).group(1))
      _wait(lambda: 'before and after' in status().text)
    latencies = []
    for k in range(moves):
      before = [a.get_attribute('href') for a in find('#sliders_audio a')]
      box = find('#midime_slider_0 input[type=number]')[0]
      driver.execute_script('arguments[0].scrollIntoView();', box)
      box.clear()
      box.send_keys(f'{-1.5 + 0.6 * k:.1f}')
      started = time.perf_counter()
      box.send_keys('\t')  # Releases the slider.
      _wait(lambda: [a.get_attribute('href') for a in find(
          '#sliders_audio a[download]')] not in ([], before))
      latencies.append(time.perf_counter() - started)
    # The same training through the API, warm, in this process.
    shared = studio_lib.Studio({'mel_2bar_small': ckpt}, work)
    api = shared.personalizer('mel_2bar_small')
    api_runs = []
    for _ in range(4):
      time.sleep(5)
      started = time.perf_counter()
      api.train(tune, epochs=100, progress=False)
      api_runs.append(time.perf_counter() - started)
    # Memory: 5 tabs that have each trained.
    baseline = _rss_mb()
    tabs = []
    for _ in range(5):
      tab = studio_lib.Session(shared, 'mel_2bar_small')
      tab.open_tune(tune)
      tab.train(100)
      tab.sample(seed=0)
      tabs.append(tab)
    five_tabs = _rss_mb()
  finally:
    driver.quit()
    page.close()
  latencies.sort()
  return {
      'slider_median_s': latencies[len(latencies) // 2],
      'slider_worst_s': latencies[-1], 'slider_moves': moves,
      'page_training_s': min(page_runs[1:]),
      'api_training_s': min(api_runs[1:]),
      'page_first_training_s': page_runs[0],
      'api_first_training_s': api_runs[0],
      'page_server_training_s': server_training,
      'training_ratio': min(page_runs[1:]) / min(api_runs[1:]),
      'server_mb_no_tab': baseline, 'server_mb_five_tabs': five_tabs,
      'mb_per_tab': (five_tabs - baseline) / 5,
      'synthesizer': studio_lib.audio_lib.synthesizer_name()}
