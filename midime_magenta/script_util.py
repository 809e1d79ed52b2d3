"""What both console scripts share: one-line errors, quiet start-up, safe writes.

Every refusal reaches the user as a single line on stderr,
`<script>: error: <sentence>`, with a non-zero exit and no traceback. Flag
parsing errors go the same way, through `parse_flags_or_exit`.
"""

import atexit
import os
import re
import sys
import threading
import warnings

from absl import app
from absl import flags
from absl import logging

# Lines TensorFlow's C++ runtime prints before any of our code can stop it
# (absl's pre-init notice, CUDA probing on machines without a GPU).
# (TF 2.21 uses absl's format; TF 2.20, Colab's, a dated one.)
_NATIVE_NOISE = re.compile(
    rb'^(WARNING: All log messages before absl::InitializeLog\(\)|'
    rb'[IWE]0000 00:00:\d+\.\d+ +\d+ [\w.]+:\d+\] |'
    rb'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [\w/.]+:\d+\] |'
    rb'To enable the following instructions: |'
    rb'This TensorFlow binary is optimized)')


class UsageError(ValueError):
  """A flag value that cannot be used."""


def filter_native_stderr():
  """Drops TensorFlow's native start-up noise from this process's stderr.

  Replaces fd 2 with a pipe read by a thread that forwards every line except
  known native noise. Our own messages and real errors pass unchanged. Set
  MIDIME_RAW_STDERR=1 to see everything.
  """
  if os.environ.get('MIDIME_RAW_STDERR'):
    return
  warnings.filterwarnings('ignore', module='pydub')  # ffmpeg is optional.
  real = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def forward():
    with os.fdopen(read_end, 'rb') as pipe, os.fdopen(real, 'wb', 0) as out:
      for line in pipe:
        if not _NATIVE_NOISE.match(line):
          out.write(line)

  thread = threading.Thread(target=forward, daemon=True)
  thread.start()

  def drain():
    sys.stderr.flush()
    os.dup2(real, 2)  # Closes the pipe's last writer, so forward() ends.
    thread.join(timeout=2)
  atexit.register(drain)


def known_errors():
  """The error types that are the user's to fix, shown as one line.

  Imported here, on demand, so that `--help` and flag errors stay fast.
  """
  # pylint: disable=g-import-not-at-top
  from midime_magenta import checkpoint_lib
  from midime_magenta import chunking_lib
  from midime_magenta import configs
  from midime_magenta import download_lib
  from midime_magenta import midime_model
  from midime_magenta import train_lib
  return (UsageError, configs.ConfigError, checkpoint_lib.CheckpointError,
          download_lib.DownloadError,
          chunking_lib.InputError, midime_model.ModelFileError,
          midime_model.ModelMismatchError, midime_model.TrainingDivergedError,
          chunking_lib.NoChunksError,
          train_lib.RunDirError, OSError)


def run_reporting_errors(run):
  """Calls `run()`; a known error becomes one line and exit code 1."""
  try:
    return run()
  except Exception as e:  # pylint: disable=broad-except
    if isinstance(e, known_errors()):
      fail(e)
    raise


def fail(message, code=1):
  """Prints one error line and exits: the only way our scripts refuse."""
  prog = os.path.basename(sys.argv[0]) if sys.argv else 'midime'
  message = ' '.join(str(message).split())
  sys.stderr.write(f'{prog}: error: {message}\n')
  sys.stderr.flush()
  sys.exit(code)


def parse_flags_or_exit(argv):
  """`app.run` flags parser that reports a bad flag in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f'{e} (see --helpshort).', code=2)


def define_common_flags():
  """--config, --checkpoint_file and --log, as every script reads them."""
  flags.DEFINE_string('config', None, 'MidiMe config: a MusicVAE config name '
                      '(e.g. cat-mel_2bar_small) or a .json config file.')
  flags.DEFINE_string('checkpoint_file', None, 'MusicVAE checkpoint: a prefix '
                      '(model.ckpt-N), a directory holding one, a .tar, a '
                      'Magenta.js folder, or a name or URL from '
                      'midime_checkpoints.')
  flags.DEFINE_string('log', 'INFO', 'Logging threshold: DEBUG, INFO, WARN, '
                      'ERROR or FATAL.')


def run_console_script(define_flags, run):
  """The body of every script's `console_entry_point`.

  Hides TensorFlow's native start-up noise, defines the flags (only now, so
  scripts can be imported together), parses them with one-line errors, and
  runs `run()`: a known error becomes one line and exit code 1; an integer
  returned is the exit code.
  """
  filter_native_stderr()
  define_flags()

  def main(unused_argv):
    if 'log' in flags.FLAGS:
      logging.set_verbosity(flags.FLAGS.log)
    code = run_reporting_errors(run)
    if isinstance(code, int):
      sys.exit(code)

  app.run(main, flags_parser=parse_flags_or_exit)


def require_flag(name, value, hint=''):
  if value is None or value == '':
    raise UsageError(f'--{name} is required{hint}.')
  return value


def write_new_file(path, write):
  """Writes a file atomically, never replacing one that exists.

  `write(tmp_path)` writes the content; it is then hard-linked into place,
  which fails if `path` appeared meanwhile, so nothing is ever overwritten.
  Where `path` is taken, `-2`, `-3`, ... is added before the extension.

  Returns:
    The path written.
  """
  base, ext = os.path.splitext(path)
  tmp = f'{base}.{os.getpid()}.partial{ext}'
  write(tmp)
  try:
    for attempt in range(1, 1000):
      target = path if attempt == 1 else f'{base}-{attempt}{ext}'
      try:
        os.link(tmp, target)
        return target
      except FileExistsError:
        continue
    raise UsageError(f'Too many files named like {path}.')
  finally:
    os.remove(tmp)


def check_writable_dir(path, flag):
  """Creates a directory if needed and checks we may write into it."""
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise UsageError(f'--{flag}={path} cannot be created ({e.strerror}).') from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise UsageError(f'--{flag}={path} is not writable; choose another '
                     'folder.')
  return path
