"""Where a run's time goes: named spans that tile the wall time.

Each thread has a stack of open spans; every moment belongs to the innermost,
or to 'other' when none is open, so the spans add up to the time since the
process started (main thread) or since the thread's first span. Phases are
measured, not derived by subtraction, and a missing span shows up as 'other'.

  with spans_lib.span('encoding'):
    ...
  spans_lib.totals()   # {'interpreter start-up': 0.05, 'other': ..., ...}

With MIDIME_SPANS=path, a console script writes its main thread's spans
there as JSON when its run ends (bin/bench reads them; the rest of the wall
time is the interpreter's exit).
"""

import contextlib
import os
import stat
import threading
import time

_OTHER = 'other'


def _process_age():
  """Seconds since this process started, read from /proc (10 ms ticks);
  None where there is no /proc."""
  try:
    with open('/proc/self/stat', encoding='ascii') as f:
      started_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
    with open('/proc/uptime', encoding='ascii') as f:
      uptime = float(f.read().split()[0])
    return max(0.0, uptime - started_ticks / os.sysconf('SC_CLK_TCK'))
  except (OSError, ValueError, IndexError):
    return None


_IMPORTED_AT = time.perf_counter()
_AGE_AT_IMPORT = _process_age()


class _Clock(threading.local):

  def __init__(self):
    super().__init__()
    self.stack = [_OTHER]
    self.totals = {_OTHER: 0.0}
    self.last = time.perf_counter()
    if threading.current_thread() is threading.main_thread():
      self.last = _IMPORTED_AT
      if _AGE_AT_IMPORT is not None:
        self.totals['interpreter start-up'] = _AGE_AT_IMPORT

  def switch(self):
    now = time.perf_counter()
    name = self.stack[-1]
    self.totals[name] = self.totals.get(name, 0.0) + now - self.last
    self.last = now


_clock = _Clock()


@contextlib.contextmanager
def span(name):
  """Counts the block's time under `name` (less any span opened inside it)."""
  _clock.switch()
  _clock.stack.append(name)
  try:
    yield
  finally:
    _clock.switch()
    _clock.stack.pop()


def totals():
  """{span: seconds} of this thread so far, in the order first entered."""
  _clock.switch()
  return dict(_clock.totals)


def since(before):
  """The spans' seconds since `before` (an earlier `totals()`), non-zero ones."""
  return {k: v - before.get(k, 0.0) for k, v in totals().items()
          if v - before.get(k, 0.0) > 0.0}


def write_if_asked():
  """Writes the main thread's spans to $MIDIME_SPANS as JSON, with the
  process's age, when that variable is set.

  A diagnostic never changes the run's outcome: it writes only a regular
  file of its own, atomically (a new file renamed over a regular file, never
  over a device, a FIFO, a folder or a link), and what it cannot write is a
  warning.
  """
  path = os.environ.get('MIDIME_SPANS')
  if not path:
    return
  # pylint: disable=g-import-not-at-top
  from absl import logging
  from midime_magenta import errors
  from midime_magenta import file_util
  try:
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
      raise file_util.OutputError(f'{path} is not a regular file')
    file_util.write_json(path, {'spans': totals(),
                                'process_seconds': _process_age()})
  except (OSError, errors.MidiMeError) as e:
    logging.warning('MIDIME_SPANS: the spans were not written (%s); the run '
                    'is not affected.', str(e).rstrip('.'))
