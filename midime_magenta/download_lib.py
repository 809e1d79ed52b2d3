"""Official MusicVAE checkpoints by name or URL, fetched once into a cache.

`--checkpoint_file` may name a checkpoint from `OFFICIAL_CHECKPOINTS` (e.g.
`mel_2bar_small`) or give a URL: a Magenta.js folder URL (holding
config.json, weights_manifest.json and shards) or a `.tar` bundle. Files go
to `<cache>/downloads/<name>/` (`~/.cache/midime_magenta`, or
$MIDIME_MAGENTA_CACHE). A download:
  - shows a progress bar in a terminal (a log line elsewhere);
  - resumes an interrupted file with an HTTP Range request where the server
    allows it, and restarts it where not;
  - is checked against the size the server announced, the sizes the
    Magenta.js manifest implies, and the sha256 pinned here where one is
    known; a file that fails is deleted (or, if cut short, kept to resume)
    and never used;
  - is never fetched again once complete: a later run makes no request.

$MIDIME_CHECKPOINT_TABLE may name a JSON file of extra entries (a mirror, or
your own checkpoints), in the form of `CheckpointEntry`.

HTTP goes through `requests` (a maintained client) with a tqdm bar.
"""

import dataclasses
import hashlib
import json
import os
import re
import urllib.parse

import requests
from absl import logging

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import progress_lib
from midime_magenta import tfjs_checkpoint_lib

_JS_BASE = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_vae'
_TAR_BASE = ('https://storage.googleapis.com/magentadata/models/music_vae/'
             'checkpoints')
COMPLETE_MARKER = '.complete'


class DownloadError(errors.MidiMeError):
  """A checkpoint that could not be fetched or failed its checks."""


@dataclasses.dataclass(frozen=True)
class CheckpointEntry:
  """One known checkpoint.

  Attributes:
    name: what `--checkpoint_file` may say.
    kind: 'tfjs' (a Magenta.js folder) or 'tar' (a Python bundle).
    url: the folder URL (tfjs) or the .tar URL.
    config: the Python MusicVAE config it loads with; None if there is none.
    size: total bytes (the tar, or the tfjs shards) where known.
    sha256: {file name: sha256} pinned where known.
    note: a line for listings: provenance of the pins, or why unsupported.
  """
  name: str
  kind: str
  url: str
  config: str | None
  size: int | None = None
  sha256: dict = dataclasses.field(default_factory=dict)
  note: str = ''


def _js(name, config, note='', **kw):
  return CheckpointEntry(name, 'tfjs', f'{_JS_BASE}/{name}', config, note=note,
                         **kw)


def _tar(name, config, note='', **kw):
  return CheckpointEntry(name, 'tar', f'{_TAR_BASE}/{name}.tar', config,
                         note=note, **kw)


_NO_CONFIG = 'no Python MusicVAE config in magenta 2.1.4 has this shape'
OFFICIAL_CHECKPOINTS = {e.name: e for e in [
    _js('mel_2bar_small', 'cat-mel_2bar_small', size=17695080, sha256={
        'config.json': '9d61c1182d4fd99726762bf1bb137ea44fbe224835063818355e5c69180aaf50',
        'weights_manifest.json': '8520ed17fd2406215ac558c34871d184cf651ecffcfc03dff0eb381c3124cb1a',
        'group1-shard5of5': '7f32a9ac0ec69bc980defa41073ac4c2e311cc99d37d98e75d94535dff7cfc59',
    }, note='The MidiMe demo\'s model; 3 files pinned from the released copy, '
            'shard sizes from its manifest.'),
    _js('drums_2bar_lokl_small', 'cat-drums_2bar_small',
        note='Config by architecture; not verified here.'),
    _js('drums_2bar_hikl_small', 'cat-drums_2bar_small',
        note='Config by architecture; not verified here.'),
    _js('drums_2bar_nade_9', 'nade-drums_2bar_reduced',
        note='Config by architecture; not verified here.'),
    _js('trio_4bar', None, note=f'Not supported: {_NO_CONFIG} (4-bar trios).'),
    _js('mel_4bar_small_q2', None,
        note=f'Not supported: {_NO_CONFIG} (2 steps per quarter).'),
    _js('mel_16bar_small_q2', None,
        note=f'Not supported: {_NO_CONFIG} (2 steps per quarter).'),
    _tar('cat-mel_2bar_big', 'cat-mel_2bar_big', note='About 1.6 GB.'),
    _tar('hierdec-mel_16bar', 'hierdec-mel_16bar'),
    _tar('hierdec-trio_16bar', 'hierdec-trio_16bar'),
    _tar('cat-drums_2bar_small.lokl', 'cat-drums_2bar_small'),
    _tar('cat-drums_2bar_small.hikl', 'cat-drums_2bar_small'),
    _tar('nade-drums_2bar_reduced', 'nade-drums_2bar_reduced'),
    _tar('nade-drums_2bar_full', 'nade-drums_2bar_full'),
]}


def cache_root():
  return os.environ.get('MIDIME_MAGENTA_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'midime_magenta')


def known_checkpoints():
  """The official table plus entries from $MIDIME_CHECKPOINT_TABLE."""
  table = dict(OFFICIAL_CHECKPOINTS)
  extra = os.environ.get('MIDIME_CHECKPOINT_TABLE')
  if extra:
    try:
      if os.path.getsize(extra) > 1 << 20:
        raise ValueError('far larger than a table')
      with open(extra, encoding='utf-8') as f:
        rows = json.load(f)
      if not isinstance(rows, list):
        raise ValueError('not a list')
      for raw in rows:
        entry = _checked_entry(raw)
        table[entry.name] = entry
    except (OSError, UnicodeDecodeError, ValueError, TypeError,
            RecursionError) as e:
      raise DownloadError(
          f'$MIDIME_CHECKPOINT_TABLE {extra} is not a list of checkpoint '
          f'entries ({e}).') from None
  return table


_SAFE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,99}')


def _checked_entry(raw):
  """A CheckpointEntry from a table row, every field checked.

  Raises:
    ValueError: for a row that cannot be used; names become cache folders,
      so they may hold no path separators or '..'.
  """
  if not isinstance(raw, dict):
    raise ValueError('an entry is not an object')
  entry = CheckpointEntry(**raw)
  if not isinstance(entry.name, str) or not _SAFE_NAME.fullmatch(
      entry.name) or '..' in entry.name:
    raise ValueError(f'name {entry.name!r} may hold only letters, digits, '
                     '".", "_" and "-"')
  if entry.kind not in ('tfjs', 'tar'):
    raise ValueError(f'{entry.name}: kind must be "tfjs" or "tar"')
  if not isinstance(entry.url, str) or not is_url(entry.url):
    raise ValueError(f'{entry.name}: url must be http(s)')
  if entry.size is not None and (isinstance(entry.size, bool) or not (
      isinstance(entry.size, int) and 0 < entry.size)):
    raise ValueError(f'{entry.name}: size must be a positive integer')
  if not isinstance(entry.sha256, dict) or not all(
      isinstance(k, str) and _SAFE_NAME.fullmatch(k) and isinstance(v, str)
      for k, v in entry.sha256.items()):
    raise ValueError(f'{entry.name}: sha256 must map file names to hashes')
  for key in ('config', 'note'):
    value = getattr(entry, key)
    if value is not None and not isinstance(value, str):
      raise ValueError(f'{entry.name}: {key} must be a string')
  return entry


def is_url(text):
  return urllib.parse.urlparse(text).scheme in ('http', 'https')


def entry_for(name_or_url):
  """The table entry for a name, or an unpinned entry for a URL; else None."""
  table = known_checkpoints()
  if name_or_url in table:
    return table[name_or_url]
  if is_url(name_or_url):
    url = name_or_url.rstrip('/')
    name = 'url-' + hashlib.sha256(url.encode()).hexdigest()[:16]
    kind = 'tar' if url.lower().endswith('.tar') else 'tfjs'
    return CheckpointEntry(name, kind, url, None)
  return None


def entry_folder(entry):
  return os.path.join(cache_root(), 'downloads', entry.name)


def is_cached(entry):
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    return os.path.isfile(os.path.join(folder, _tar_file_name(entry)))
  return os.path.exists(os.path.join(folder, COMPLETE_MARKER))


def _tar_file_name(entry):
  return os.path.basename(urllib.parse.urlparse(entry.url).path) or 'bundle.tar'


# Caps for downloads of unknown size: a server that never ends must not fill
# the disk. The biggest official bundle (cat-mel_2bar_big.tar) is ~1.6 GB;
# Magenta.js shards are 4 MiB, and their JSON files a few KiB.
MAX_TAR_BYTES = 4 << 30
MAX_SHARD_BYTES = 64 << 20
MAX_JSON_BYTES = 1 << 20


def fetch_file(url, dest, sha256=None, size=None, max_bytes=MAX_SHARD_BYTES):
  """Fetches one URL to `dest` (resuming `dest.partial`), then verifies it.

  Never writes more than `size` (when known) or `max_bytes`: a body that
  goes on past that is stopped and deleted.

  Returns:
    `dest`, which exists only once complete and verified.

  Raises:
    DownloadError: on a network failure or HTTP error (the partial file is
      kept, to resume), a short or over-long body, or a checksum mismatch
      (the file is deleted).
  """
  if os.path.exists(dest):
    return dest
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  partial = dest + '.partial'
  have = os.path.getsize(partial) if os.path.exists(partial) else 0
  headers = {'Range': f'bytes={have}-'} if have else {}
  try:
    with requests.get(url, stream=True, headers=headers,
                      timeout=(10, 60)) as response:
      if response.status_code == 416:  # Our partial is already whole or bad.
        os.remove(partial)
        return fetch_file(url, dest, sha256, size, max_bytes)
      if response.status_code not in (200, 206):
        raise DownloadError(f'{url} answered HTTP {response.status_code}; '
                            'check the name or URL.')
      if response.status_code == 200:
        have = 0  # The server ignored Range: start over.
      length = response.headers.get('Content-Length')
      total = have + int(length) if length is not None else size
      mode = 'ab' if have else 'wb'
      with open(partial, mode) as f, progress_lib.progress_bar(
          total, f'Downloading {os.path.basename(dest)}', 'B',
          unit_scale=True) as bar:
        bar.update(have)
        limit = min(x for x in (size, total, max_bytes) if x is not None)
        written = have
        for block in response.iter_content(1 << 16):
          written += len(block)
          if written > limit:
            break
          f.write(block)
          bar.update(len(block))
      if written > limit:
        os.remove(partial)
        raise DownloadError(
            f'{url} sent more than the {limit} bytes it may have; deleted '
            'it. Check the URL, or run again.')
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
  if expected is not None and got > expected:
    os.remove(partial)
    raise DownloadError(f'{url} sent {got} bytes, not {expected}; deleted '
                        'it, run again.')
  if sha256 and file_util.sha256_file(partial) != sha256:
    os.remove(partial)
    raise DownloadError(
        f'{os.path.basename(dest)} from {url} does not match its pinned '
        'sha256 (corrupted in transit or changed on the server); deleted it, '
        'run again.')
  os.replace(partial, dest)
  return dest


def fetch_checkpoint(name_or_url):
  """Returns a local path (tfjs folder or .tar) for a name or URL.

  Cached copies are used without any request.

  Raises:
    DownloadError: for an unsupported checkpoint or a failed download.
  """
  entry = entry_for(name_or_url)
  if entry is None:
    raise DownloadError(f'{name_or_url} is neither a file, a known checkpoint '
                        'name nor a URL; see midime_checkpoints.')
  if entry.name in OFFICIAL_CHECKPOINTS and entry.config is None:
    raise DownloadError(f'Checkpoint {entry.name} cannot be used: '
                        f'{entry.note}')
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    dest = os.path.join(folder, _tar_file_name(entry))
    if not os.path.exists(dest):
      logging.info('Fetching %s into %s ...', entry.url, folder)
    return fetch_file(entry.url, dest, entry.sha256.get(
        _tar_file_name(entry)), entry.size, MAX_TAR_BYTES)
  if is_cached(entry):
    return folder
  logging.info('Fetching Magenta.js checkpoint %s into %s ...', entry.url,
               folder)
  get = lambda name, cap=MAX_SHARD_BYTES: fetch_file(  # pylint: disable=g-long-lambda
      f'{entry.url}/{name}', os.path.join(folder, name),
      entry.sha256.get(name), max_bytes=cap)
  get('config.json', MAX_JSON_BYTES)
  get(tfjs_checkpoint_lib.MANIFEST, MAX_JSON_BYTES)
  try:
    manifest = tfjs_checkpoint_lib.read_manifest(folder)
  except tfjs_checkpoint_lib.TfjsCheckpointError as e:
    os.remove(os.path.join(folder, tfjs_checkpoint_lib.MANIFEST))
    raise DownloadError(f'{entry.url} is not a Magenta.js checkpoint: {e}') from None
  for group in manifest:
    for name in group['paths']:
      if not _SAFE_NAME.fullmatch(os.path.basename(name)):
        raise DownloadError(f'{entry.url}: the manifest names a shard '
                            f'{name!r} that is not a plain file name.')
      get(os.path.basename(name))
  shard_bytes = sum(
      os.path.getsize(os.path.join(folder, os.path.basename(p)))
      for g in manifest for p in g['paths'])
  expected = entry.size or sum(tfjs_checkpoint_lib.group_sizes(manifest))
  if shard_bytes != expected:
    for g in manifest:
      for p in g['paths']:
        os.remove(os.path.join(folder, os.path.basename(p)))
    raise DownloadError(
        f'The shards of {entry.url} hold {shard_bytes} bytes, not the '
        f'{expected} its manifest needs; deleted them, run again.')
  with open(os.path.join(folder, COMPLETE_MARKER), 'w', encoding='utf-8') as f:
    f.write(entry.url + '\n')
  return folder
