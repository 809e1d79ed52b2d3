"""Fetching checkpoints once into `<cache>/downloads/<name>/`: what `requests`
lacks, resuming (Range, If-Range), checks against the size, the manifest and
pins (a file that fails is never used), a stop when a server trickles."""

import contextlib
import fcntl
import glob
import ipaddress
import os
import pathlib
import re
import shutil
import socket
import tarfile
import threading
import time
import urllib.parse

import requests
from absl import logging

from midime_magenta.checkpoints import catalogue_lib
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import progress_lib
from midime_magenta.checkpoints import tfjs_checkpoint_lib

COMPLETE_MARKER = '.complete'

class DownloadError(errors.MidiMeError):
  """A checkpoint that could not be fetched or failed its checks."""


def cache_root():
  return os.environ.get('MIDIME_MAGENTA_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'midime_magenta')


def entry_folder(entry):
  return os.path.join(cache_root(), 'downloads', entry.name)


def is_cached(entry):
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    return os.path.isdir(os.path.join(folder, 'unpacked'))
  return os.path.exists(os.path.join(folder, COMPLETE_MARKER))


# A server that never ends must not fill the disk (bundles ~1.6 GB, shards 4 MiB).
MAX_TAR_BYTES = 4 << 30
MAX_SHARD_BYTES = 64 << 20
MAX_JSON_BYTES = 1 << 20
STALL_BYTES = 8 << 10
STALL_SECONDS = 60.0


@contextlib.contextmanager
def _locked(path):
  """One fetch of `path` at a time across processes (a lock file beside it)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.lock', 'a+b') as lock:  # Closing it lets go.
    fcntl.flock(lock, fcntl.LOCK_EX)
    yield


def fetch_file(url, dest, sha256=None, size=None, max_bytes=MAX_SHARD_BYTES):
  """Fetches `url` to `dest` (which exists only once verified), resuming
  `dest.partial` with If-Range; at most `size` or `max_bytes` is written.
  Raises DownloadError (a network failure keeps the partial file)."""
  with _locked(dest):
    if not os.path.exists(dest):
      _fetch_unlocked(url, dest, sha256, size, max_bytes)
  return dest


def _fetch_unlocked(url, dest, sha256, size, max_bytes):
  partial = dest + '.partial'
  validator_file = partial + '.validator'
  validator, have = '', 0
  with contextlib.suppress(OSError), open(validator_file, encoding='utf-8') as f:
    validator = f.read().strip()
    # Without a validator a resume could splice two versions.
    have = os.path.getsize(partial) if validator else 0
  headers = {'Accept-Encoding': 'identity'}
  if have:
    headers.update({'Range': f'bytes={have}-', 'If-Range': validator})
  try:
    with requests.get(url, stream=True, headers=headers,
                      timeout=(10, 60)) as response:
      if response.status_code == 416 and have:  # Our partial is whole or bad.
        _remove(partial, validator_file)
        return _fetch_unlocked(url, dest, sha256, size, max_bytes)
      if response.status_code not in (200, 206):
        raise DownloadError(f'{url} answered HTTP {response.status_code}; '
                            'check the name or URL.')
      headers = response.headers
      encoded = headers.get('Content-Encoding', 'identity').lower() not in (
          'identity', '')
      start = re.fullmatch(r'bytes (\d+)-\d+/(\d+|\*)',
                           headers.get('Content-Range', '').strip())
      if response.status_code == 206 and (
          encoded or not start or int(start.group(1)) != have):
        _remove(partial, validator_file)
        raise DownloadError(
            f'{url} answered a resume with the wrong range '
            f'({headers.get("Content-Range")!r}, not from byte '
            f'{have}); dropped the partial file, run again.')
      if response.status_code == 200:
        have = 0  # Whole file: new, changed on the server, or no ranges.
      length = headers.get('Content-Length', '').strip()
      total = have + int(length) if length.isdigit() and not encoded else size
      etag = headers.get('ETag') or 'W/'  # The server's version, for If-Range.
      pathlib.Path(validator_file).write_text(
          '' if encoded else etag if not etag.startswith('W/') else
          headers.get('Last-Modified', ''), encoding='utf-8')
      limit = min(x for x in (size, total, max_bytes) if x is not None)
      written = have
      with open(partial, 'ab' if have else 'wb') as f, (
          progress_lib.progress_bar(
              total, f'Downloading {os.path.basename(dest)}', 'B',
              unit_scale=True)) as bar, _watchdog(
                  response, STALL_SECONDS,
                  f'{url} sent less than {STALL_BYTES // 1024} KiB in '
                  f'{STALL_SECONDS:.0f} s; stopped (what came is kept). Run '
                  'again to resume, or try later.') as arrived:
        bar.update(have)
        for block in response.iter_content(STALL_BYTES):
          arrived()
          written += len(block)
          if written > limit:
            _remove(partial, validator_file)
            raise DownloadError(
                f'{url} sent more than the {limit} bytes it may have; '
                'deleted it. Check the URL, or run again.')
          f.write(block)
          bar.update(len(block))
  except requests.RequestException as e:
    kept = os.path.getsize(partial) if os.path.exists(partial) else 0
    raise DownloadError(
        f'Downloading {url} failed ({type(e).__name__}); run again to resume '
        f'({kept} bytes are kept).') from None
  got = os.path.getsize(partial)
  expected = size if size is not None else total
  if expected is not None and got < expected:
    raise DownloadError(
        f'The download of {url} was cut short ({got} of {expected} bytes); '
        'run again to resume.')
  if sha256 and file_util.sha256_file(partial) != sha256:
    _remove(partial, validator_file)
    raise DownloadError(
        f'{os.path.basename(dest)} from {url} does not match its pinned '
        'sha256 (corrupted in transit or changed on the server); deleted it, '
        'run again.')
  os.replace(partial, dest)
  _remove(validator_file)


@contextlib.contextmanager
def _watchdog(response, seconds, message):
  """Yields a call that restarts the clock; `seconds` without one, shuts the
  socket down (waking the read) and raises DownloadError(message)."""
  last, done, late = [time.monotonic()], threading.Event(), threading.Event()

  def watch():
    while not done.wait(1.0):
      if time.monotonic() - last[0] > seconds:
        late.set()
        return _shut_down(response)

  watcher = threading.Thread(target=watch, daemon=True)
  watcher.start()
  try:
    yield lambda: last.__setitem__(0, time.monotonic())
  finally:
    done.set()
    watcher.join()
    if late.is_set():  # Replaces the error the shut socket gave, if any.
      raise DownloadError(message) from None


MAX_TUNE_BYTES = 4 << 20  # As the studio's uploads.
TUNE_SECONDS = 20.0


def fetch_tune(url, max_bytes=MAX_TUNE_BYTES, seconds=TUNE_SECONDS,
               public_only=False):
  """(file name, bytes) of a MIDI file at an http(s) address: at most
  `max_bytes` in `seconds`; `public_only`, only internet hosts, no redirects
  (a page served beyond this machine). Raises DownloadError."""
  url = str(url).strip()
  parsed = urllib.parse.urlparse(url)
  if parsed.scheme.lower() not in ('http', 'https') or not parsed.hostname:
    raise DownloadError('The address must start with http:// or https:// '
                        'and name a server.')
  name = os.path.basename(urllib.parse.unquote(parsed.path)) or 'tune.mid'
  if public_only:
    _check_public(parsed.hostname, parsed.port)
  body = bytearray()
  late = (f'{url} took more than {seconds:.0f} s to send the file; try again '
          'later.')
  try:
    with requests.get(url, stream=True, timeout=(5, seconds),
                      allow_redirects=not public_only,
                      headers={'Accept-Encoding': 'identity'}) as response, (
                          _watchdog(response, seconds, late)):
      if response.status_code != 200:
        raise DownloadError(f'{url} answered HTTP {response.status_code}; '
                            'check the address.')
      for block in response.iter_content(STALL_BYTES):
        body += block
        if len(body) > max_bytes:
          raise DownloadError(f'{url} is larger than the {max_bytes >> 20} MB '
                              'a MIDI file may be here.')
  except requests.Timeout:
    raise DownloadError(late) from None
  except (requests.RequestException, OSError) as e:
    raise DownloadError(f'{url} could not be fetched ({type(e).__name__}); '
                        'check the address.') from None
  return name, bytes(body)


def _check_public(host, port):
  """Refuses a host that resolves to any address not on the internet."""
  try:
    infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
  except (OSError, UnicodeError):
    raise DownloadError(f'{host} could not be found; check the '
                        'address.') from None
  if not all(ipaddress.ip_address(i[4][0].split('%')[0]).is_global
             for i in infos):
    raise DownloadError(f'{host} is not on the internet; this page fetches '
                        'only public addresses.')


def _shut_down(response):
  try:
    fd = response.raw._fp.fp.fileno()  # pylint: disable=protected-access
    with socket.socket(fileno=os.dup(fd)) as sock:
      sock.shutdown(socket.SHUT_RDWR)
  except (AttributeError, OSError, ValueError):
    pass  # Already closed: the read timeout still holds.


def _remove(*paths):
  for path in paths:
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)


def unpack_bundle(tar_path, target):
  """Unpacks a `.tar` into `target` atomically (tarfile's 'data' filter does
  the path safety); returns its one checkpoint's prefix, or DownloadError."""
  if not os.path.isdir(target):
    partial = f'{target}.partial-{os.getpid()}'
    shutil.rmtree(partial, ignore_errors=True)
    try:
      with tarfile.open(tar_path) as tar:
        tar.extractall(partial, filter='data')
    except (tarfile.TarError, OSError) as e:
      shutil.rmtree(partial, ignore_errors=True)
      raise DownloadError(f'Cannot unpack checkpoint bundle {tar_path} ({e}); '
                          'download it again.') from None
    try:
      os.rename(partial, target)
    except OSError:  # Another process finished first; use theirs.
      shutil.rmtree(partial, ignore_errors=True)
  found = glob.glob(os.path.join(target, '**', '*.index'), recursive=True)
  if len(found) != 1:
    raise DownloadError(
        f'Checkpoint bundle {tar_path} holds {len(found)} checkpoints, not '
        'one; unpack it and pass the prefix of the one you want.')
  return found[0][:-len('.index')]


def fetch_checkpoint(name_or_url):
  """A local path (a tfjs folder or a TF prefix) for a name, URL or gs://
  path; cached copies need no request. Raises DownloadError."""
  if name_or_url in catalogue_lib.REFUSED_CHECKPOINTS:
    raise DownloadError(f'Checkpoint {name_or_url} is not supported: '
                        f'{catalogue_lib.REFUSED_CHECKPOINTS[name_or_url]}.')
  entry = catalogue_lib.entry_for(name_or_url)
  if entry is None:
    raise DownloadError(f'{name_or_url} is neither a file, a known checkpoint '
                        'name nor a URL; see midime_checkpoints.')
  try:
    return _fetch_into_cache(entry)
  except OSError as e:  # requests' errors are OSErrors too, handled below.
    where = f' ({e.filename})' if e.filename else ''
    raise DownloadError(
        f'The checkpoint cache {cache_root()} cannot be written'
        f'{where}: {e.strerror or type(e).__name__}. Set '
        'MIDIME_MAGENTA_CACHE to a writable folder with room.') from None


def _fetch_into_cache(entry):
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    unpacked = os.path.join(folder, 'unpacked')
    name = os.path.basename(urllib.parse.urlparse(entry.url).path) or (
        'bundle.tar')
    dest = os.path.join(folder, name)
    with _locked(unpacked):
      if not os.path.isdir(unpacked):
        logging.info('Fetching %s into %s ...', entry.url, folder)
        fetch_file(entry.url, dest, entry.sha256.get(name), entry.size,
                   MAX_TAR_BYTES)
      prefix = unpack_bundle(dest, unpacked)
      _remove(dest)  # Unpacked and verified: keep one copy.
    return prefix
  with _locked(os.path.join(folder, COMPLETE_MARKER)):
    if not is_cached(entry):
      _fetch_tfjs(entry, folder)
  return folder


def _fetch_tfjs(entry, folder):
  logging.info('Fetching Magenta.js checkpoint %s into %s ...', entry.url,
               folder)
  get = lambda name, cap=MAX_SHARD_BYTES: fetch_file(  # pylint: disable=g-long-lambda
      f'{entry.url}/{name}', os.path.join(folder, name),
      entry.sha256.get(name), max_bytes=cap)
  config = get('config.json', MAX_JSON_BYTES)
  try:
    if 'dataConverter' not in file_util.read_json(config, MAX_JSON_BYTES):
      raise ValueError('no dataConverter')
  except (ValueError, TypeError, RecursionError, UnicodeDecodeError):
    os.remove(config)  # Not cached as if whole: a re-run fetches it again.
    raise DownloadError(f'{entry.url}/config.json is not a Magenta.js '
                        'config (an error page?); run again later, or check '
                        'the URL.') from None
  get(tfjs_checkpoint_lib.MANIFEST, MAX_JSON_BYTES)
  try:
    manifest = tfjs_checkpoint_lib.read_manifest(folder)
  except tfjs_checkpoint_lib.TfjsCheckpointError as e:
    os.remove(os.path.join(folder, tfjs_checkpoint_lib.MANIFEST))
    raise DownloadError(f'{entry.url} is not a Magenta.js checkpoint: {e}') from None
  sizes = tfjs_checkpoint_lib.group_sizes(manifest)
  shards = [get(os.path.basename(name), min(MAX_SHARD_BYTES, group_size))
            for group, group_size in zip(manifest, sizes)
            for name in group['paths']]  # 4 MiB each, but a group's last.
  shard_bytes = sum(map(os.path.getsize, shards))
  expected = sum(sizes)
  if shard_bytes != expected:
    _remove(*shards)
    raise DownloadError(
        f'The shards of {entry.url} hold {shard_bytes} bytes, not the '
        f'{expected} its manifest needs; deleted them, run again.')
  with open(os.path.join(folder, COMPLETE_MARKER), 'w', encoding='utf-8') as f:
    f.write(entry.url + '\n')
