"""The one atomic writer (a temporary file beside the target, flushed, then
put in place), the claim of a folder, and small file helpers."""

import contextlib
import datetime
import errno
import hashlib
import json
import math
import os
import pathlib
import re
import shutil
import tempfile

from midime_magenta import errors

TMP_MARK = '.midime-tmp-'
# What a file system without hard links (FAT, some network drives) says.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
             errno.EINVAL, errno.EXDEV}
# Names that become file or folder names: no separators, no leading dot.
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
  """`text` as valid UTF-8, non-UTF-8 bytes of a file name as `\\xff`."""
  return text.encode('utf-8', 'surrogateescape').decode('utf-8',
                                                        'backslashreplace')


def musician_name(tune, model, what, extension='.mid', date=None):
  """`tune-model-what-date.mid`, each part in letters, digits, '_' and '-'."""
  def part(text, fallback):
    return re.sub(r'[^A-Za-z0-9_]+', '-', str(text or '')).strip('-_')[
        :40] or fallback
  tune = os.path.splitext(os.path.basename(str(tune or '')))[0]
  date = date or datetime.date.today()
  return (f'{part(tune, "tune")}-{part(model, "model")}-{part(what, "music")}'
          f'-{date.isoformat()}{extension}')


def is_temporary(name):
  """True for the names of `write_atomically`'s temporary files."""
  return TMP_MARK in name


def _publish_new_name(tmp, path):
  """Links the full `tmp` to `path`, or `path-2`, ... if taken, so a name
  never appears empty (Ctrl-C mid-write); where there are no hard links,
  claims a free name empty and replaces it (the claim removed if that fails)."""
  base, ext = os.path.splitext(path)
  for target in [path] + [f'{base}-{i}{ext}' for i in range(2, 1001)]:
    try:
      os.link(tmp, target)
      return target
    except FileExistsError:
      continue
    except OSError as e:
      if e.errno not in _NO_LINKS:
        raise
    try:
      os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
      continue
    try:
      os.replace(tmp, target)
    except BaseException:  # Also Ctrl-C: the claim goes (no call before
      try:  # the remove, as in write_atomically).
        os.remove(target)
      except OSError:
        pass
      raise
    return target
  raise OutputError(f'Too many files are named like {path}; choose another '
                    'output folder.')


def write_atomically(path, write, replace=True):
  """Writes a file atomically; returns the path written (else OutputError).

  `write(tmp_path)` writes the whole content, or `write` is the bytes; `path`
  may be a URL TensorFlow can write; `replace=False` picks a free name.
  """
  if isinstance(write, bytes):
    write = lambda tmp, data=write: pathlib.Path(tmp).write_bytes(data)
  if '://' in str(path):
    return _write_url_atomically(path, write, replace)
  folder = os.path.dirname(os.path.abspath(path))
  name, ext = os.path.splitext(os.path.basename(path))
  tmp = os.path.join(folder, f'.{name}{TMP_MARK}{os.getpid()}-'
                     f'{os.urandom(4).hex()}{ext}')  # Threads write at once.
  try:
    write(tmp)
    with open(tmp, 'rb+') as f:
      os.fsync(f.fileno())
    if not replace:
      return _publish_new_name(tmp, path)
    os.replace(tmp, path)
    return path
  except OSError as e:
    raise OutputError(f'Cannot write {path}: {e.strerror or e}.') from None
  finally:  # Also on Ctrl-C, even one pending from the link: no Python
    # call (as contextlib.suppress's) comes before the remove.
    try:
      os.remove(tmp)
    except OSError:
      pass


def _write_url_atomically(url, write, replace):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  staged = f'{url}.{TMP_MARK.strip(".")}{os.getpid()}-{os.urandom(4).hex()}'
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
  if isinstance(value, dict):
    return {k: _finite_or_none(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_finite_or_none(v) for v in value]
  return None if isinstance(value, float) and not math.isfinite(value) else (
      value)


def read_json(path, max_bytes, what='JSON'):
  """Reads a JSON file of at most `max_bytes` (else ValueError)."""
  if os.path.getsize(path) > max_bytes:
    raise ValueError(f'far larger than {what} can be')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def write_json(path, value, replace=True):
  """Writes JSON atomically; NaN and infinities become null, which browsers read."""
  def write(tmp):
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump(_finite_or_none(value), f, indent=2, sort_keys=True,
                allow_nan=False)
      f.write('\n')
  return write_atomically(path, write, replace)


def check_writable_dir(path, what):
  """Creates folder `path` if needed; OutputError naming `what` if it cannot."""
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


def check_not_held(folder, error):
  """Raises `error` when another live process holds `folder` (its lock)."""
  try:
    with open(os.path.join(folder, LOCK_FILE), encoding='ascii') as f:
      pid = int(f.read().strip() or 0)
  except (OSError, ValueError):
    return
  if not pid or pid == os.getpid():
    return
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return  # Its process is gone.
  except PermissionError:
    pass  # Alive, and someone else's.
  raise error(f'Another process (pid {pid}) is writing in {folder}; '
              'wait for it to finish, or choose another folder.')


def _take_lock(folder, error):
  """Creates folder/LOCK_FILE holding our pid; a live holder is refused."""
  path = os.path.join(folder, LOCK_FILE)
  for _ in range(3):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      check_not_held(folder, error)
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)  # Left by a process that died.
      continue
    with os.fdopen(fd, 'w', encoding='ascii') as f:
      f.write(str(os.getpid()))
    return path
  raise error(f'Cannot claim {folder}; try again.')


def nearest_existing(path):
  """(The nearest of absolute `path` and its parents that exists, the topmost
  folder that creating `path` would make, or None when `path` exists)."""
  path, created = os.path.abspath(path), None
  while not os.path.exists(path):
    path, created = os.path.dirname(path), path
  return path, created


@contextlib.contextmanager
def claimed_folder(folder, check, error, keep, what):
  """Holds `folder` for this process while the block writes into it (re-entrant).

  `check()` refuses an unusable folder, before anything is created and once
  the lock is ours; a folder this call created is removed if the block fails,
  unless `keep(folder)`. Raises `error`.
  """
  key = os.path.realpath(folder)
  if key in _claimed:
    yield folder
    return
  check()
  created = nearest_existing(folder)[1]
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
