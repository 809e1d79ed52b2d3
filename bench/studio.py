"""MidiMe Studio's figures, measured in Debian's chromium (bin/bench --only=studio).

- slider: moving a MidiMe slider (release) until the page holds the new audio,
  mel_2bar_small, 2 cores; median and worst of several moves.
- sample_slider, super_slider: step 1's sliders (a MusicVAE dimension, and a
  MidiMe super slider on the same sample): release until the piano roll that
  plays holds new notes, drawn, its play button enabled (moves whose decode
  gave the same notes are not counted).
- training: a 3-minute tune, 100 epochs, through the page (click until the
  new "Trained" line shows: the tune was cut and encoded when it opened)
  against `Personalizer.train` on the same tune in the same process (cutting,
  encoding, training); the best of 3 after one more (the first in a process
  also pays TensorFlow's first traces; reported too), each after 5 s for the
  browser to finish drawing. Also against `Personalizer.train(chunked, z=mu)`
  on chunks cut and encoded before, as the page's are (`_encoded`).
- Times on the page are the page's own (`performance.now()` from the action
  to a MutationObserver seeing the change); Selenium reads them every 0.25 s,
  so its polling does not share the 2 cores with the work it times.
- memory: the server's resident memory with 5 tabs (sessions) that have each
  trained a model on the 3-minute tune, against the server with none.
- 40 tabs (`bench_tabs`): one `midime_studio` process on 127.0.0.1 and 40
  tabs over raw HTTP (`browser_lib.RawTab`): 10 upload round four's bombs,
  10 upload the 3-minute tune and train it, 20 upload it and sample MusicVAE;
  meanwhile one idle tab loads the page and asks for a light action every
  half second. Its worst waits, the server's memory and disk at their peak
  and per tab, and both once the tabs have closed. Bounded: 40 tabs, each
  action's answer within 10 minutes, the whole within 15.
"""

import io
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

import mido

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


# Times a change on the page's own clock: a MutationObserver notes when
# `check` (a JS expression) first gives a new truthy value. Selenium then
# looks only every 0.25 s, so its polling does not load the two cores while
# the server works (polling every 20 ms slowed the training it timed).
_WATCH = """
const [check, act] = [new Function('return ' + arguments[0]), arguments[1]];
const before = check();
window.__midime_seen = null;
const t0 = performance.now();
const obs = new MutationObserver(() => {
  const value = check();
  if (value && value !== before) {
    window.__midime_seen = [performance.now() - t0, String(value)];
    obs.disconnect();
  }
});
obs.observe(document.body, {subtree: true, childList: true,
                            attributes: true, characterData: true});
if (act) document.querySelector(act).click();
"""


def _watch(driver, check, click=None):
  """Starts watching `check`; clicks `click` (a CSS selector) in the page."""
  driver.execute_script(_WATCH, check, click)


def _seen(driver, timeout=600):
  """(seconds, value) of the last `_watch`, waiting for it."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    seen = driver.execute_script('return window.__midime_seen;')
    if seen:
      return seen[0] / 1000, seen[1]
    time.sleep(0.25)
  raise TimeoutError('the page did not answer')


def bench_studio(ckpt, tune, moves=6):
  """The three figures of issue 25 (see module doc)."""
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from midime_magenta.studio import page as studio  # pylint: disable=g-import-not-at-top
  from midime_magenta.studio import studio_lib  # pylint: disable=g-import-not-at-top
  from midime_magenta.studio import studio_server_lib  # pylint: disable=g-import-not-at-top
  if not browser_lib.available():
    return {'skipped': 'apt-get install chromium chromium-driver'}
  work = tempfile.mkdtemp(prefix='bench_studio_')
  page = studio.launch({'mel_2bar_small': ckpt}, folder=work)
  driver = browser_lib.chromium(os.path.join(work, 'profile'))
  find = lambda css: driver.find_elements(By.CSS_SELECTOR, css)  # pylint: disable=g-long-lambda
  status = lambda step='tune': (find(f'#{step}_status') or [None])[0]  # pylint: disable=g-long-lambda
  try:
    driver.get(page.local_url)
    _wait(lambda: status() and 'Upload a MIDI file' in status().text)
    find('#upload input[type=file]')[0].send_keys(tune)
    _wait(lambda: 'chunks of 2 bars' in status().text)
    button = find('#train')[0]
    driver.execute_script('arguments[0].scrollIntoView();', button)
    page_runs = []
    # The new "Trained ... s." line, shown while the reconstructions are made
    # (after Gradio's timer for them); "Below ..." follows it when they come.
    trained_text = ("(m => m && m[0])(document.querySelector('#train_status')"
                    ".innerText.match(/Trained [^\\n]*? s\\.(?! Below)/))")
    for _ in range(4):  # The first pays the process's first trace.
      time.sleep(5)  # The browser done drawing the last results' waveforms.
      _watch(driver, trained_text, '#train')
      seconds, trained = _seen(driver)
      page_runs.append(seconds)
      server_training = float(re.search(r'in ([\d.]+) s', trained).group(1))
      _wait(lambda: 'before and after' in status('train').text)
    latencies = []
    fold = find('#more_box .label-wrap')[0]  # MidiMe's sliders fold away.
    driver.execute_script('arguments[0].scrollIntoView();', fold)
    fold.click()
    audio = ("[...document.querySelectorAll('#sliders_audio a[download]')]"
             ".map(a => a.href).join(' ')")
    _wait(lambda: find('#midime_slider_0 input[type=number]'))  # Unfolded.
    for k in range(moves):
      box = find('#midime_slider_0 input[type=number]')[0]
      driver.execute_script('arguments[0].scrollIntoView();', box)
      box.clear()
      box.send_keys(f'{-1.5 + 0.6 * k:.1f}')
      _watch(driver, audio)
      box.send_keys('\t')  # Releases the slider.
      latencies.append(_seen(driver)[0])
    roll_js = ("(el => { const b = el && el.querySelector("
               "'button.midime-play'); return el && b && !b.disabled && "
               "el.dataset.drawn && el.dataset.notes; })(document."
               "querySelector('#sample_roll .midime-roll'))")
    roll = lambda: driver.execute_script('return ' + roll_js)  # pylint: disable=g-long-lambda
    sample_button = find('#another_sample')[0]
    driver.execute_script('arguments[0].scrollIntoView();', sample_button)
    sample_button.click()
    _wait(roll)
    sample_latencies = {'sample_slider': [], 'super_slider': []}
    for key, css in (('sample_slider', '#sample_slider_0'),
                     ('super_slider', '#super_slider_0')):
      for k in range(moves):
        box = find(f'{css} input[type=number]')[0]
        driver.execute_script('arguments[0].scrollIntoView();', box)
        box.clear()
        box.send_keys(f'{(-1) ** k * (1.0 + 0.2 * k):.1f}')
        _watch(driver, roll_js)
        box.send_keys('\t')
        try:  # Drawn, playable, and new notes (a decode may repeat them).
          sample_latencies[key].append(_seen(driver, timeout=20)[0])
        except TimeoutError:
          pass
    # The same training through the API, warm, in this process.
    shared = studio_server_lib.Studio({'mel_2bar_small': ckpt}, work)
    api = shared.personalizer('mel_2bar_small')
    api_runs = []
    for _ in range(4):
      time.sleep(5)
      started = time.perf_counter()
      api.train(tune, epochs=100, progress=False)
      api_runs.append(time.perf_counter() - started)
    # And on chunks cut and encoded before, as the page's are.
    chunked = api.chunk(tune, allow_empty=False)
    mu = api.encode(chunked)
    api_encoded_runs = []
    for _ in range(4):
      time.sleep(5)
      started = time.perf_counter()
      api.train(chunked, z=mu, epochs=100, progress=False)
      api_encoded_runs.append(time.perf_counter() - started)
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
      **{f'{key}_median_s': sorted(v)[len(v) // 2] if v else None
         for key, v in sample_latencies.items()},
      **{f'{key}_moves': len(v) for key, v in sample_latencies.items()},
      'page_training_s': min(page_runs[1:]),
      'api_training_s': min(api_runs[1:]),
      'page_first_training_s': page_runs[0],
      'api_first_training_s': api_runs[0],
      'page_server_training_s': server_training,
      'training_ratio': min(page_runs[1:]) / min(api_runs[1:]),
      'api_encoded_training_s': min(api_encoded_runs[1:]),
      'training_ratio_encoded': (min(page_runs[1:]) /
                                 min(api_encoded_runs[1:])),
      'server_mb_no_tab': baseline, 'server_mb_five_tabs': five_tabs,
      'mb_per_tab': (five_tabs - baseline) / 5,
      'synthesizer': studio_lib.audio_lib.synthesizer_name()}


def _rss_mb_of(pid):
  with open(f'/proc/{pid}/status', encoding='utf-8') as f:
    return next(int(l.split()[1]) for l in f if l.startswith('VmRSS:')) / 1024


def _disk_mb(*folders):
  return sum(os.path.getsize(os.path.join(d, n)) for folder in folders
             for d, _, names in os.walk(folder) for n in names
             if os.path.isfile(os.path.join(d, n))) / 2**20


def _bombs():
  """Round four's three uploads: 2 notes 3 h 50 min apart, 1 note held for
  3.9 h, 550,000 one-tick notes (3.3 MB)."""
  def midi(*notes):  # (pitch, ticks before, ticks held) at 96 a beat.
    f = mido.MidiFile(ticks_per_beat=96)
    f.tracks.append(mido.MidiTrack(m for p, wait, held in notes for m in (
        mido.Message('note_on', note=p, velocity=90, time=wait),
        mido.Message('note_on', note=p, velocity=0, time=held))))
    out = io.BytesIO()
    f.save(file=out)
    return out.getvalue()
  hours = lambda h: int(h * 3600 * 192)
  return [('two_notes.mid', midi((60, 0, 96), (62, hours(23 / 6), 96))),
          ('held.mid', midi((60, 0, hours(3.9)))),
          ('many.mid', midi(*[(60 + i % 12, 0, 1) for i in range(550_000)]))]


def bench_tabs(ckpt, tune, tabs=40, deadline_s=900):
  """40 tabs against one server (see the module doc)."""
  work = tempfile.mkdtemp(prefix='bench_tabs_')
  served, uploads = os.path.join(work, 'served'), os.path.join(work, 'gradio')
  env = dict(os.environ, GRADIO_HEARTBEAT_INTERVAL='1', GRADIO_TEMP_DIR=uploads)
  with open(os.path.join(work, 'server.log'), 'w', encoding='utf-8') as log:
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'midime_studio'),
         '--port=0', f'--checkpoint_file={ckpt}', f'--output_dir={served}',
         f'--runs_dir={os.path.join(work, "runs")}', '--log=WARNING'],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
  try:
    url = server.stdout.readline().split()[2]
    with open(tune, 'rb') as f:
      tune_bytes = f.read()
    bombs = _bombs()
    warm = browser_lib.RawTab(url).open()
    warm.call('prior', 'click')  # MusicVAE restored.
    warm.close()
    start_mb, start_disk = _rss_mb_of(server.pid), _disk_mb(served, uploads)
    done, answers, opened = threading.Event(), [], []

    def tab_work(i):
      tab = browser_lib.RawTab(url, timeout=600).open()
      opened.append(tab)
      try:
        if i % 4 == 0:
          name, data = bombs[i // 4 % 3]
          status = tab.call('upload', 'upload', upload=tab.upload(name, data))[1]
          answers.append(status)
        else:
          tab.call('upload', 'upload', upload=tab.upload('tune.mid', tune_bytes))
          if i % 4 == 1:
            answers.append(tab.call('train', 'click')[1])
          else:
            answers.append(tab.call('prior', 'click')[1])
      except Exception as e:  # pylint: disable=broad-except
        answers.append(f'failed: {e}')

    waits = {'page': [], 'action': []}
    peak = {'mb': start_mb, 'disk': start_disk}

    def idle():
      tab = browser_lib.RawTab(url).open()
      try:
        while not done.is_set():
          started = time.perf_counter()
          tab.http.get(url, timeout=600).raise_for_status()
          waits['page'].append(time.perf_counter() - started)
          started = time.perf_counter()
          tab.call('model', 'input')  # No tune: the page's lightest action.
          waits['action'].append(time.perf_counter() - started)
          peak['mb'] = max(peak['mb'], _rss_mb_of(server.pid))
          peak['disk'] = max(peak['disk'], _disk_mb(served, uploads))
          time.sleep(0.5)
      finally:
        tab.close()

    watcher = threading.Thread(target=idle, daemon=True)
    watcher.start()
    workers = [threading.Thread(target=tab_work, args=(i,), daemon=True)
               for i in range(tabs)]
    began = time.monotonic()
    for w in workers:
      w.start()
    for w in workers:
      w.join(max(1, deadline_s - (time.monotonic() - began)))
    done.set()
    watcher.join(60)
    load_s = time.monotonic() - began
    for tab in opened:
      tab.close()
    closed = lambda: not any(n.startswith('tab-') for _, dirs, _ in  # pylint: disable=g-long-lambda
                             os.walk(served) for n in dirs)
    _wait(closed, timeout=120)
    after_mb, after_disk = _rss_mb_of(server.pid), _disk_mb(served, uploads)
    stopped = time.perf_counter()
    server.send_signal(signal.SIGINT)
    server.wait(60)
    stop_s = time.perf_counter() - stopped
  finally:
    server.kill()
  refused = [a for a in answers if a.startswith('**Error:**')]
  return {
      'tabs': tabs, 'load_s': load_s, 'answered': len(answers),
      'failed': [a for a in answers if a.startswith('failed')][:3],
      'bomb_answers': sorted(set(refused)),
      'trained': sum(a.startswith('Trained') for a in answers),
      'idle_page_worst_s': max(waits['page']),
      'idle_page_median_s': sorted(waits['page'])[len(waits['page']) // 2],
      'idle_action_worst_s': max(waits['action']),
      'idle_action_median_s': sorted(waits['action'])[
          len(waits['action']) // 2],
      'server_mb_start': start_mb, 'server_mb_peak': peak['mb'],
      'server_mb_after_close': after_mb,
      'mb_per_tab': (peak['mb'] - start_mb) / tabs,
      'disk_mb_peak': peak['disk'] - start_disk,
      'disk_mb_per_tab': (peak['disk'] - start_disk) / tabs,
      'disk_mb_after_close': after_disk - start_disk, 'stop_s': stop_s}
