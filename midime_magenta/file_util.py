"""The one atomic writer, and small file helpers.

Every file this package writes goes through `write_atomically`: the content
is written to a temporary file in the target's folder, flushed to disk, and
only then put in place, so a crash or Ctrl-C leaves either the old file or
the new one, never half of one, and never a stray temporary file.

Two ways of putting it in place:
  replace=True   `os.replace`: for files we own (a run's own JSON).
  replace=False  never replaces anything: the name is first claimed with an
                 exclusive create (O_EXCL), then the content renamed over our
                 own empty claim; a taken name gets '-2', '-3', ... before the
                 extension. This needs no hard links, so it works on FUSE
                 mounts such as Colab's Google Drive.
"""

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile

from midime_magenta import errors

_TMP_MARK = '.midime-tmp-'
# Names that become file or folder names (configs, checkpoints): no path
# separators, no leading dot, nothing a shell or filesystem reads specially.
SAFE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,99}')


class OutputError(errors.MidiMeError):
  """A file or folder that cannot be written."""


def sha256_file(path):
  """The sha256 hex digest of a file, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def shown_name(text):
  """A file name (or a message holding one) as valid UTF-8 text.

  A name's bytes that are not UTF-8 arrive from the OS as surrogates
  (`os.fsdecode`); protobuf fields and Beam's coders refuse those. Here they
  become `\\xff`, readable, while the name itself is kept for opening.
  """
  return text.encode('utf-8', 'surrogateescape').decode('utf-8',
                                                        'backslashreplace')


def is_temporary(name):
  """True for the names of `write_atomically`'s temporary files."""
  return _TMP_MARK in name


def _claim_new_name(path, max_attempts=1000):
  base, ext = os.path.splitext(path)
  for attempt in range(1, max_attempts + 1):
    target = path if attempt == 1 else f'{base}-{attempt}{ext}'
    try:
      os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
      return target
    except FileExistsError:
      continue
  raise OutputError(f'Too many files are named like {path}; choose another '
                    'output folder.')


def write_atomically(path, write, replace=True):
  """Writes a file atomically and returns the path written.

  Args:
    path: where the file goes.
    write: `write(tmp_path)` writes the whole content to `tmp_path` (a
      path, so numpy, matplotlib and note_seq writers all fit).
    replace: replace an existing `path` (True), or never replace anything
      and pick a free name instead (False).

  A URL (gs://..., any filesystem TensorFlow reads) is written to a local
  temporary file, copied beside the target and renamed over it: as atomic as
  that filesystem's rename (on GCS, a copy that readers see whole).

  Raises:
    OutputError: when the folder cannot be written.
  """
  if '://' in str(path):
    return _write_url_atomically(path, write, replace)
  folder = os.path.dirname(os.path.abspath(path))
  name, ext = os.path.splitext(os.path.basename(path))
  tmp = os.path.join(folder, f'.{name}{_TMP_MARK}{os.getpid()}{ext}')
  target = done = None
  try:
    write(tmp)
    with open(tmp, 'rb+') as f:
      os.fsync(f.fileno())
    target = path if replace else _claim_new_name(path)
    os.replace(tmp, target)
    done = target
    return target
  except OSError as e:
    raise OutputError(f'Cannot write {path}: {e.strerror or e}.') from None
  finally:
    # Also on Ctrl-C: no temporary file and no empty claim stays behind.
    if target and not replace and done is None:
      with contextlib.suppress(OSError):
        os.remove(target)
    with contextlib.suppress(OSError):
      os.remove(tmp)


def _write_url_atomically(url, write, replace):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  staged = f'{url}.{_TMP_MARK.strip(".")}{os.getpid()}'
  with tempfile.TemporaryDirectory() as folder:
    local = os.path.join(folder, os.path.basename(url))
    try:
      write(local)
      tf.io.gfile.copy(local, staged, overwrite=True)
      tf.io.gfile.rename(staged, url, overwrite=replace)
    except (tf.errors.OpError, OSError) as e:
      with contextlib.suppress(tf.errors.OpError):
        tf.io.gfile.remove(staged)
      raise OutputError(f'Cannot write {url}: {e}.') from None
  return url


def _finite_or_none(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: _finite_or_none(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_finite_or_none(v) for v in value]
  return value


def read_json(path, max_bytes, what='JSON'):
  """Reads a JSON file of at most `max_bytes`: what a user's or a server's
  file may hold is bounded before it is parsed.

  Raises:
    ValueError: when it is larger or not JSON; RecursionError when it nests
      absurdly deep; OSError, UnicodeDecodeError when it cannot be read.
  """
  if os.path.getsize(path) > max_bytes:
    raise ValueError(f'far larger than {what} can be')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def write_json(path, value, replace=True):
  """Writes JSON atomically (see `write_atomically`).

  NaN and infinities become null: they are not JSON, and other readers
  (browsers, jq) refuse them.
  """
  def write(tmp):
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump(_finite_or_none(value), f, indent=2, sort_keys=True,
                allow_nan=False)
      f.write('\n')
  return write_atomically(path, write, replace)


def check_writable_dir(path, what):
  """Creates a folder if needed and checks it can be written.

  Args:
    path: the folder.
    what: how the user named it, for messages (e.g. '--output_dir').

  Raises:
    OutputError: when it cannot be created or written.
  """
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise OutputError(f'{what}={path} cannot be created '
                      f'({e.strerror or e}); choose another folder.') from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise OutputError(f'{what}={path} is not writable; choose another '
                      'folder.')
  return path


# -- claiming a folder ---------------------------------------------------------

LOCK_FILE = '.midime.lock'
_claimed = set()  # Real paths this process holds.


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _take_lock(folder, error):
  """Creates folder/LOCK_FILE holding our pid; a live holder is refused."""
  path = os.path.join(folder, LOCK_FILE)
  for _ in range(3):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      try:
        with open(path, encoding='ascii') as f:
          pid = int(f.read().strip() or 0)
      except (OSError, ValueError):
        pid = 0
      if pid and pid != os.getpid() and _pid_alive(pid):
        raise error(f'Another process (pid {pid}) is writing in {folder}; '
                    'wait for it to finish, or choose another folder.'
                    ) from None
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)  # Left by a process that died.
      continue
    with os.fdopen(fd, 'w', encoding='ascii') as f:
      f.write(str(os.getpid()))
    return path
  raise error(f'Cannot claim {folder}; try again.')


@contextlib.contextmanager
def claimed_folder(folder, check, error, keep, what):
  """Holds `folder` for this process while the block writes into it.

  `check()` refuses a folder that cannot be used (it raises); it runs before
  anything is created and again once the lock is ours. A folder this call
  created is removed again if the block fails, unless `keep(folder)`.
  Re-entrant: a folder this process already holds is simply yielded.

  Raises:
    `error`: when the folder cannot be created or another process holds it.
  """
  key = os.path.realpath(folder)
  if key in _claimed:
    yield folder
    return
  check()
  created = os.path.abspath(folder)
  while not os.path.exists(os.path.dirname(created)):
    created = os.path.dirname(created)
  created = None if os.path.exists(created) else created
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    raise error(f'Cannot create {what} {folder} ({e.strerror or e}).'
                ) from None
  lock = _take_lock(folder, error)
  _claimed.add(key)
  ok = False
  try:
    check()
    yield folder
    ok = True
  finally:
    _claimed.discard(key)
    with contextlib.suppress(OSError):
      os.remove(lock)
    if not ok and created and not keep(folder):
      shutil.rmtree(created, ignore_errors=True)
