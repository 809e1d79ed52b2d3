"""Tests for startup_lib: the spans tile the time, nested and per thread."""

import json
import threading
import time

from midime_magenta import startup_lib


def test_spans_tile_the_time_and_nest():
  before = startup_lib.totals()
  started = time.perf_counter()
  with startup_lib.span('outer'):
    time.sleep(0.05)
    with startup_lib.span('inner'):
      time.sleep(0.03)
  time.sleep(0.02)  # In no span: 'other'.
  spans = startup_lib.since(before)
  elapsed = time.perf_counter() - started
  assert set(spans) == {'outer', 'inner', 'other'}
  assert 0.05 <= spans['outer'] < 0.05 + 0.03  # Less the inner span.
  assert spans['inner'] >= 0.03 and spans['other'] >= 0.02
  assert 0.1 <= sum(spans.values()) <= elapsed


def test_the_main_thread_counts_from_the_process_start():
  spans = startup_lib.totals()
  assert spans['interpreter start-up'] > 0.0
  age = startup_lib._process_age()  # pylint: disable=protected-access
  assert abs(sum(spans.values()) - age) < 0.05


def test_other_threads_keep_their_own_spans():
  seen = {}

  def work():
    with startup_lib.span('in a thread'):
      time.sleep(0.01)
    seen.update(startup_lib.totals())
  thread = threading.Thread(target=work)
  thread.start()
  thread.join()
  assert seen['in a thread'] >= 0.01 and 'interpreter start-up' not in seen
  assert 'in a thread' not in startup_lib.totals()


def test_the_spans_file_is_written_only_when_asked(tmp_path, monkeypatch):
  path = tmp_path / 'spans.json'
  monkeypatch.delenv('MIDIME_SPANS', raising=False)
  startup_lib.write_spans_if_asked()
  assert not path.exists()
  monkeypatch.setenv('MIDIME_SPANS', str(path))
  with startup_lib.span('written'):
    pass
  startup_lib.write_spans_if_asked()
  written = json.loads(path.read_text(encoding='utf-8'))
  assert 'written' in written['spans'] and written['process_seconds'] > 0
