"""Start-up: TensorFlow imported quietly, the wings' doors, and spans.

TensorFlow 2.20/2.21 logs a banner and INFO lines through absl's C++ logging
before it is set up, ignoring `TF_CPP_MIN_LOG_LEVEL`: `import_quietly`
captures fd 2 and writes back all but known INFO lines (MIDIME_RAW_STDERR=1
shows everything).

Spans tile a thread's wall time (the main thread's since the process
started): every moment belongs to the innermost open `span`, or to 'other'.
MIDIME_SPANS=path makes a console script write them there (bin/bench).
"""

import contextlib
import importlib
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import time
import types
import warnings


def _process_age():
  """Seconds since this process started (from /proc), or None without /proc."""
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
    self.stack = ['other']
    self.totals = {'other': 0.0}
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
  """The spans' non-zero seconds since `before` (an earlier `totals()`)."""
  return {k: v - before.get(k, 0.0) for k, v in totals().items()
          if v - before.get(k, 0.0) > 0.0}


def write_spans_if_asked():
  """Writes the main thread's spans and the process's age to $MIDIME_SPANS:
  only a regular file, atomically; a failure is a warning, not the run's."""
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


# INFO lines, and oneDNN's note about speed on a CPU without AVX-512.
_INFO_LINE = re.compile(
    rb'^(WARNING: All log messages before absl::InitializeLog\(\) is called|'
    rb'I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] |'
    rb'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I [\w/.]+:\d+\] |'
    rb'To enable the following instructions: |'
    rb'.*oneDNN supports DT_INT64 only on platforms)')
_NO_GPU_LINE = re.compile(rb'failed call to cuInit|Could not find cuda drivers')


def defer_tensorflow_datasets(name='tensorflow_datasets'):
  """Defers magenta's unused tensorflow_datasets to first use (0.19 s a start)."""
  if name in sys.modules:
    return
  stub = types.ModuleType(name, f'{name}, imported on first use.')

  def load(attribute):
    if attribute.startswith('__'):  # inspect probes every module's.
      raise AttributeError(attribute)
    del sys.modules[name]
    real = importlib.import_module(name)
    stub.__dict__.update(real.__dict__)
    return getattr(real, attribute)

  stub.__getattr__ = load
  sys.modules[name] = stub


@contextlib.contextmanager
def native_stderr_to(capture):
  """Points file descriptor 2 (native code's stderr) at `capture` meanwhile."""
  sys.stderr.flush()
  saved = os.dup(2)
  os.dup2(capture.fileno(), 2)
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


_first_runs = set()


@contextlib.contextmanager
def quiet_first_run(kind):
  """Native stderr of the first run of a `kind` (the import, MusicVAE's first
  encode, its first decode), written back without known INFO lines."""
  if kind in _first_runs or os.environ.get('MIDIME_RAW_STDERR'):
    _first_runs.add(kind)
    yield
    return
  _first_runs.add(kind)
  with tempfile.TemporaryFile() as capture:
    try:
      with native_stderr_to(capture):
        yield
    finally:
      capture.seek(0)
      lines = capture.read().splitlines(keepends=True)
      for line in lines:
        if not (_INFO_LINE.match(line) or _NO_GPU_LINE.search(line)):
          sys.stderr.buffer.write(line)
      sys.stderr.flush()
      if any(_NO_GPU_LINE.search(line) for line in lines):
        from absl import logging  # pylint: disable=g-import-not-at-top
        logging.info('No GPU found (CUDA could not start): TensorFlow runs '
                     'on the CPU.')


@contextlib.contextmanager
def _ctrl_c_deferred():
  """Holds Ctrl-C (numpy's ImportError inside an import) to the block's end."""
  if (threading.current_thread() is not threading.main_thread() or
      signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
    yield  # Not ours to change.
    return
  pressed = []
  previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
  if pressed:
    raise KeyboardInterrupt


def import_quietly():
  """Imports TensorFlow, note_seq and magenta's MusicVAE once; see module doc."""
  if 'import' in _first_runs:
    return
  with (_ctrl_c_deferred(), quiet_first_run('import'),
        warnings.catch_warnings()):
    warnings.filterwarnings('ignore', module='pydub')
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    # pylint: disable=g-import-not-at-top,unused-import
    import tensorflow
    import note_seq
    import magenta.models.music_vae
    # CUDA speaks when devices start, and TF logs at its first TF1 graph.
    tensorflow.config.list_physical_devices('GPU')
    v1 = tensorflow.compat.v1
    with tensorflow.Graph().as_default(), v1.Session() as session:
      session.run(v1.placeholder_with_default([0.0], [None]) + 1.0)


def device_name():
  """Where TensorFlow places new ops: 'GPU:0' when it sees a GPU, else 'CPU'."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gpus = tf.config.list_logical_devices('GPU')
  return gpus[0].name.split('device:')[-1] if gpus else 'CPU'


def front_door(package, names, light=()):
  """(`__getattr__`, `__dir__`) of a wing's door: `names` maps each public
  name to its inner 'module' (or 'module:name'), imported on first use, after
  `import_quietly` unless the module is in `light` (imports no TensorFlow).
  """
  def getattr_(name):
    if name not in names:
      raise AttributeError(f'module {package!r} has no attribute {name!r}')
    module, _, inner = names[name].partition(':')
    if module not in light:
      import_quietly()
    return getattr(importlib.import_module(f'{package}.{module}'),
                   inner or name)
  return getattr_, lambda: sorted(names)
