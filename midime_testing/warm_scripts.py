"""Runs the console scripts many times in one warm process (tests only).

Each script run in its own process pays TensorFlow's and magenta's import,
some 5 seconds, before it can refuse anything. The bad-input corpus runs
about 70 cases that mostly refuse in well under a second after that, so it
spent most of its 8 minutes importing. Here one worker process imports once
and runs the cases one after another, each as its console script would run:
`console_entry_point()` with the same argv, its flags defined and parsed
afresh, file descriptors 1 and 2 captured (so native code's output and
absl's log lines are seen, as a terminal would), the exit code taken from
`SystemExit`.

What a warm process cannot show, a case keeps its own process for (see
`run_installed_script`): signals, environment read at start-up, exit in the
middle of an import.

Run as a module, the worker reads one JSON request per line on stdin and
answers on the fd 1 it was started with.
"""

import atexit
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading

_SCRIPTS = ('midime_train', 'midime_generate', 'midime_evaluate',
            'midime_encode', 'midime_constrain', 'midime_checkpoints')


class WarmScripts:
  """One worker process; `run` is `run_installed_script` without the start-up.

  Use as a context manager. A run that outlives its timeout kills the worker
  (a new one starts for the next run) and comes back with return code -9.
  """

  def __init__(self):
    self._process = None
    self._lock = threading.Lock()

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()

  def close(self):
    if self._process is not None:
      self._process.kill()
      self._process.wait()
      self._process = None

  def _start(self):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    self._process = subprocess.Popen(
        [sys.executable, '-m', 'midime_testing.warm_scripts'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

  def run(self, name, *args, env=None, timeout=600):
    """Runs console script `name` with `args`; a `CompletedProcess`."""
    assert name in _SCRIPTS, name
    with self._lock:
      if self._process is None:
        self._start()
      request = json.dumps({'name': name, 'args': list(args),
                            'env': env or {}})
      self._process.stdin.write(request + '\n')
      self._process.stdin.flush()
      answer = [None]
      reader = threading.Thread(
          target=lambda: answer.__setitem__(0, self._process.stdout.readline()))
      reader.start()
      reader.join(timeout)
      if not answer[0]:
        self.close()
        return subprocess.CompletedProcess(
            [name, *args], -9, '', f'(no answer within {timeout} s)')
      result = json.loads(answer[0])
      return subprocess.CompletedProcess([name, *args], result['returncode'],
                                         result['stdout'], result['stderr'])


_shared = []


def run(name, *args, env=None, timeout=600):
  """`run_installed_script`, in this test process's one warm worker.

  A run given `env` gets a process of its own (start-up reads it).
  """
  if env:
    from midime_testing import testdata_lib  # pylint: disable=g-import-not-at-top
    return testdata_lib.run_installed_script(name, *args, env=env,
                                             timeout=timeout)
  if not _shared:
    _shared.append(WarmScripts())
    atexit.register(_shared[0].close)
  return _shared[0].run(name, *args, timeout=timeout)


def _run_one(name, args, env, script_dir):
  """Runs one script in this process, as its own process would."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  # Flags are defined by each run (script_util.run_console_script): drop the
  # last run's, and reset absl's own to their defaults.
  ours = {name for module, defined in values.flags_by_module_dict().items()
          if module.startswith('midime_magenta.')
          for flag in defined for name in (flag.name, flag.short_name)
          if name}
  for flag_name in ours & set(values):
    delattr(values, flag_name)
  values.unparse_flags()
  saved_env = dict(os.environ)
  os.environ.update(env)
  saved_argv = sys.argv
  sys.argv = [os.path.join(script_dir, name), *args]
  module = importlib.import_module(f'midime_magenta.{name}')
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    try:
      module.console_entry_point()
      code = 0
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
      if not isinstance(e.code, (int, type(None))):
        sys.stderr.write(f'{e.code}\n')
    except BaseException:  # pylint: disable=broad-except
      import traceback  # pylint: disable=g-import-not-at-top
      traceback.print_exc()
      code = 1
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os.dup2(saved_fds[0], 1)
      os.dup2(saved_fds[1], 2)
      for fd in saved_fds:
        os.close(fd)
      sys.argv = saved_argv
      os.environ.clear()
      os.environ.update(saved_env)
    out.seek(0)
    err.seek(0)
    return {'returncode': code,
            'stdout': out.read().decode('utf-8', 'replace'),
            'stderr': err.read().decode('utf-8', 'replace')}


def _serve():
  # Answers go to the fd 1 this process started with; runs capture fd 1.
  answers = os.fdopen(os.dup(1), 'w')
  script_dir = os.path.dirname(sys.executable)
  for line in sys.stdin:
    request = json.loads(line)
    result = _run_one(request['name'], request['args'], request['env'],
                      script_dir)
    answers.write(json.dumps(result) + '\n')
    answers.flush()


if __name__ == '__main__':
  _serve()
