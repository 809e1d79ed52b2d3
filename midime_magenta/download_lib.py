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

import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import tarfile
import urllib.parse

import requests
from absl import logging

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import progress_lib
from midime_magenta import tfjs_checkpoint_lib
from midime_magenta import tfjs_config_lib

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


# Magenta.js checkpoints carry their config (tfjs_config_lib reads it), so a
# row needs no config; `config` names one only where a Python config of the
# same variables exists. Sizes are the catalogue's (magenta-js
# music/checkpoints/checkpoints.json), for listings; downloads are checked
# against the sizes the manifest implies.
_FROM_CHECKPOINT = None
OFFICIAL_CHECKPOINTS = {e.name: e for e in [
    _js('mel_2bar_small', 'cat-mel_2bar_small', size=17695080, sha256={
        'config.json': '9d61c1182d4fd99726762bf1bb137ea44fbe224835063818355e5c69180aaf50',
        'weights_manifest.json': '8520ed17fd2406215ac558c34871d184cf651ecffcfc03dff0eb381c3124cb1a',
        'group1-shard5of5': '7f32a9ac0ec69bc980defa41073ac4c2e311cc99d37d98e75d94535dff7cfc59',
    }, note='The MidiMe demo\'s melody model (17.7 MB); 3 files pinned from '
            'the released copy.'),
    _js('mel_4bar_small_q2', _FROM_CHECKPOINT,
        note='4-bar melodies, 2-byte weights (26.5 MB).'),
    _js('mel_4bar_med_q2', _FROM_CHECKPOINT,
        note='4-bar melodies, medium, 2-byte weights (65.4 MB).'),
    _js('mel_4bar_med_lokl_q2', _FROM_CHECKPOINT,
        note='4-bar melodies, medium, strong prior, 2-byte weights (65.4 MB).'),
    _js('mel_16bar_small_q2', _FROM_CHECKPOINT,
        note='16-bar melodies, 16-step conductor, 2-byte weights (23.5 MB).'),
    _js('trio_4bar', _FROM_CHECKPOINT,
        note='The MidiMe demo\'s trio model: melody, bass, drums; 4-step '
             'conductor, 1-byte weights (17.6 MB).'),
    _js('trio_16bar', _FROM_CHECKPOINT,
        note='16-bar trios, very large (1.71 GB).'),
    _js('drums_2bar_lokl_small', 'cat-drums_2bar_small',
        note='2-bar drums, strong prior (18.5 MB).'),
    _js('drums_2bar_hikl_small', 'cat-drums_2bar_small',
        note='2-bar drums, weak prior (18.5 MB).'),
    _js('drums_2bar_nade_9_q2', _FROM_CHECKPOINT,
        note='2-bar drums, NADE decoder, 2-byte weights (27.6 MB).'),
    _js('drums_4bar_med_q2', _FROM_CHECKPOINT,
        note='4-bar drums, medium, 2-byte weights (68.2 MB).'),
    _js('drums_4bar_med_lokl_q2', _FROM_CHECKPOINT,
        note='4-bar drums, medium, strong prior, 2-byte weights (68.2 MB).'),
    _tar('cat-mel_2bar_big', 'cat-mel_2bar_big', note='About 1.6 GB.'),
    _tar('hierdec-mel_16bar', 'hierdec-mel_16bar'),
    _tar('hierdec-trio_16bar', 'hierdec-trio_16bar'),
    _tar('cat-drums_2bar_small.lokl', 'cat-drums_2bar_small'),
    _tar('cat-drums_2bar_small.hikl', 'cat-drums_2bar_small'),
    _tar('nade-drums_2bar_reduced', 'nade-drums_2bar_reduced'),
    _tar('nade-drums_2bar_full', 'nade-drums_2bar_full'),
]}

# Magenta.js MusicVAE checkpoints MidiMe does not personalize, by name, with
# the reasons tfjs_config_lib gives when it reads such a checkpoint's
# config.json (one home for them).
_MULTITRACK = tfjs_config_lib.UNSUPPORTED_CONVERTERS['MultitrackConverter']
_CHORDS = tfjs_config_lib.CHORD_CONDITIONED
_GROOVE = tfjs_config_lib.UNSUPPORTED_CONVERTERS['GrooveConverter']
_CONTROL = tfjs_config_lib.UNSUPPORTED_CONVERTERS['MelodyRhythmConverter']
REFUSED_CHECKPOINTS = {
    'mel_chords': _CHORDS,
    'multitrack': _MULTITRACK, 'multitrack_med': _MULTITRACK,
    'multitrack_med_fb256': _MULTITRACK,
    'multitrack_chords': _CHORDS, 'multitrack_med_chords': _CHORDS,
    'multitrack_med_chords_fb256': _CHORDS,
    'groovae_2bar_humanize': _GROOVE, 'groovae_4bar': _GROOVE,
    'tap2drum_1bar': _GROOVE, 'tap2drum_2bar': _GROOVE,
    'tap2drum_3bar': _GROOVE, 'tap2drum_4bar': _GROOVE,
    'drums_2bar_nade_9': 'Magenta.js publishes it as drums_2bar_nade_9_q2 '
                         '(_q2: 2-byte weights); use that name',
}
for _n in ('mel_2bar_multicontrol_tiny', 'mel_rhythm_2bar_tiny',
           'mel_shape_2bar_tiny'):
  for _fb in (0, 8, 16, 32):
    REFUSED_CHECKPOINTS[f'{_n}_fb{_fb}'] = (
        _CHORDS if 'multicontrol' in _n else _CONTROL)


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
    raise ValueError(f'{entry.name}: url must be http(s) or gs://')
  entry = dataclasses.replace(entry, url=public_url(entry.url))
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
  return urllib.parse.urlparse(text).scheme in ('http', 'https', 'gs')


def public_url(url):
  """A gs:// path as its public HTTPS address (as the MusicVAE Colab passes
  them: gs://magentadata/... is storage.googleapis.com/magentadata/...)."""
  parsed = urllib.parse.urlparse(url)
  if parsed.scheme == 'gs':
    return f'https://storage.googleapis.com/{parsed.netloc}{parsed.path}'
  return url


def checkpoint_name(entry):
  """The name a checkpoint's config is registered under: the table's name, or
  the last part of its URL (.../music_vae/trio_4bar is trio_4bar)."""
  if not entry.name.startswith('url-'):
    return entry.name
  last = os.path.basename(urllib.parse.urlparse(entry.url).path.rstrip('/'))
  last = re.sub(r'[^A-Za-z0-9._-]', '_', last)
  last = last[:-len('.tar')] if last.lower().endswith('.tar') else last
  return last if _SAFE_NAME.fullmatch(last) and '..' not in last else (
      entry.name)


def entry_for(name_or_url):
  """The table entry for a name, or an unpinned entry for a URL; else None."""
  table = known_checkpoints()
  if name_or_url in table:
    return table[name_or_url]
  if is_url(name_or_url):
    url = public_url(name_or_url.rstrip('/'))
    for entry in table.values():
      if entry.url == url:  # gs:// or https:// of a known checkpoint.
        return entry
    name = 'url-' + hashlib.sha256(url.encode()).hexdigest()[:16]
    kind = 'tar' if url.lower().endswith('.tar') else 'tfjs'
    return CheckpointEntry(name, kind, url, None)
  return None


def entry_folder(entry):
  return os.path.join(cache_root(), 'downloads', entry.name)


def is_cached(entry):
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    return os.path.isdir(os.path.join(folder, 'unpacked'))
  return os.path.exists(os.path.join(folder, COMPLETE_MARKER))


def _tar_file_name(entry):
  return os.path.basename(urllib.parse.urlparse(entry.url).path) or 'bundle.tar'


# Caps for downloads of unknown size: a server that never ends must not fill
# the disk. The biggest official bundle (cat-mel_2bar_big.tar) is ~1.6 GB;
# Magenta.js shards are 4 MiB, and their JSON files a few KiB.
MAX_TAR_BYTES = 4 << 30
MAX_SHARD_BYTES = 64 << 20
MAX_JSON_BYTES = 1 << 20


@contextlib.contextmanager
def _locked(path):
  """Holds an exclusive lock on `path.lock`: one fetch of a target at a time,
  across processes (a second waits, then finds the file complete)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.lock', 'a+b') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def _validator(response):
  """What identifies this version of the file on the server, for If-Range."""
  etag = response.headers.get('ETag')
  if etag and not etag.startswith('W/'):  # Weak ETags may not be used.
    return etag
  return response.headers.get('Last-Modified')


def _range_start(response):
  """The first byte of a 206 response's Content-Range, or None."""
  match = re.fullmatch(r'bytes (\d+)-\d+/(\d+|\*)',
                       response.headers.get('Content-Range', '').strip())
  return int(match.group(1)) if match else None


def fetch_file(url, dest, sha256=None, size=None, max_bytes=MAX_SHARD_BYTES):
  """Fetches one URL to `dest` (resuming `dest.partial`), then verifies it.

  A resume sends `If-Range` with the validator (ETag or Last-Modified) the
  first response gave, so a file that changed on the server comes back whole
  (200) instead of spliced; a 206 must say it starts where we stopped
  (`Content-Range`). We ask for no content coding; a server that gzips
  anyway is decoded and checked against the sizes we know, and not resumed.
  One process at a time fetches a target (a lock file beside it). Never
  writes more than `size` (when known) or `max_bytes`: a body that goes on
  past that is stopped and deleted.

  Returns:
    `dest`, which exists only once complete and verified.

  Raises:
    DownloadError: on a network failure or HTTP error (the partial file is
      kept, to resume), a short or over-long body, or a checksum mismatch
      (the file is deleted).
  """
  with _locked(dest):
    if os.path.exists(dest):
      return dest
    _fetch_unlocked(url, dest, sha256, size, max_bytes)
  return dest


def _fetch_unlocked(url, dest, sha256, size, max_bytes):
  partial = dest + '.partial'
  validator_file = partial + '.validator'
  have = os.path.getsize(partial) if os.path.exists(partial) else 0
  validator = None
  if have and os.path.exists(validator_file):
    with open(validator_file, encoding='utf-8') as f:
      validator = f.read().strip() or None
  if have and not validator:
    have = 0  # Without a validator a resume could splice two versions.
  headers = {'Accept-Encoding': 'identity'}
  if have:
    headers.update({'Range': f'bytes={have}-', 'If-Range': validator})
  try:
    with requests.get(url, stream=True, headers=headers,
                      timeout=(10, 60)) as response:
      if response.status_code == 416:  # Our partial is already whole or bad.
        _remove(partial, validator_file)
        return _fetch_unlocked(url, dest, sha256, size, max_bytes)
      if response.status_code not in (200, 206):
        raise DownloadError(f'{url} answered HTTP {response.status_code}; '
                            'check the name or URL.')
      encoded = response.headers.get('Content-Encoding', 'identity').lower(
          ) not in ('identity', '')
      if response.status_code == 206 and (
          encoded or _range_start(response) != have):
        _remove(partial, validator_file)
        raise DownloadError(
            f'{url} answered a resume with the wrong range '
            f'({response.headers.get("Content-Range")!r}, not from byte '
            f'{have}); dropped the partial file, run again.')
      if response.status_code == 200:
        have = 0  # Whole file: new, changed on the server, or no ranges.
      length = response.headers.get('Content-Length')
      total = (have + int(length) if length is not None and not encoded
               else size)
      with open(validator_file, 'w', encoding='utf-8') as f:
        f.write((None if encoded else _validator(response)) or '')
      limit = min(x for x in (size, total, max_bytes) if x is not None)
      written = have
      with open(partial, 'ab' if have else 'wb') as f, (
          progress_lib.progress_bar(
              total, f'Downloading {os.path.basename(dest)}', 'B',
              unit_scale=True)) as bar:
        bar.update(have)
        for block in response.iter_content(1 << 16):
          written += len(block)
          if written > limit:
            break
          f.write(block)
          bar.update(len(block))
      if written > limit:
        _remove(partial, validator_file)
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
    _remove(partial, validator_file)
    raise DownloadError(f'{url} sent {got} bytes, not {expected}; deleted '
                        'it, run again.')
  if sha256 and file_util.sha256_file(partial) != sha256:
    _remove(partial, validator_file)
    raise DownloadError(
        f'{os.path.basename(dest)} from {url} does not match its pinned '
        'sha256 (corrupted in transit or changed on the server); deleted it, '
        'run again.')
  os.replace(partial, dest)
  _remove(validator_file)


def _remove(*paths):
  for path in paths:
    try:
      os.remove(path)
    except FileNotFoundError:
      pass


def unpack_bundle(tar_path, target):
  """Unpacks a `.tar` bundle into `target` (made atomically); returns the
  prefix of the one checkpoint in it.

  The 'data' filter refuses absolute paths, '..', links out of the folder
  and device files: a bundle cannot write outside `target`.

  Raises:
    DownloadError: for a bundle that cannot be unpacked or holds no single
      checkpoint.
  """
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
  """Returns a local path (a tfjs folder, or a TF checkpoint prefix unpacked
  from a .tar) for a name, URL or gs:// path.

  Cached copies are used without any request. A downloaded .tar is unpacked
  and then deleted: the cache keeps one copy.

  Raises:
    DownloadError: for an unsupported checkpoint or a failed download.
  """
  if name_or_url in REFUSED_CHECKPOINTS:
    raise DownloadError(f'Checkpoint {name_or_url} is not supported: '
                        f'{REFUSED_CHECKPOINTS[name_or_url]}.')
  entry = entry_for(name_or_url)
  if entry is None:
    raise DownloadError(f'{name_or_url} is neither a file, a known checkpoint '
                        'name nor a URL; see midime_checkpoints.')
  folder = entry_folder(entry)
  if entry.kind == 'tar':
    unpacked = os.path.join(folder, 'unpacked')
    with _locked(unpacked):
      if not os.path.isdir(unpacked):
        dest = os.path.join(folder, _tar_file_name(entry))
        if not os.path.exists(dest):
          logging.info('Fetching %s into %s ...', entry.url, folder)
        fetch_file(entry.url, dest, entry.sha256.get(_tar_file_name(entry)),
                   entry.size, MAX_TAR_BYTES)
        prefix = unpack_bundle(dest, unpacked)
        os.remove(dest)  # Unpacked and verified: keep one copy.
        return prefix
    return unpack_bundle(os.path.join(folder, _tar_file_name(entry)), unpacked)
  with _locked(os.path.join(folder, COMPLETE_MARKER)):
    if not is_cached(entry):
      _fetch_tfjs(entry, folder)
  return folder


def _fetch_tfjs(entry, folder):
  """Fetches a Magenta.js folder: config, manifest, then every shard."""
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
  sizes = tfjs_checkpoint_lib.group_sizes(manifest)
  for group, group_size in zip(manifest, sizes):
    for name in group['paths']:
      if not _SAFE_NAME.fullmatch(os.path.basename(name)):
        raise DownloadError(f'{entry.url}: the manifest names a shard '
                            f'{name!r} that is not a plain file name.')
    # Shards are 4 MiB but the last of a group; their sum is the group's.
    for name in group['paths']:
      get(os.path.basename(name), min(MAX_SHARD_BYTES, group_size))
  shard_bytes = sum(
      os.path.getsize(os.path.join(folder, os.path.basename(p)))
      for g in manifest for p in g['paths'])
  expected = sum(sizes)
  if shard_bytes != expected:
    for g in manifest:
      for p in g['paths']:
        _remove(os.path.join(folder, os.path.basename(p)))
    raise DownloadError(
        f'The shards of {entry.url} hold {shard_bytes} bytes, not the '
        f'{expected} its manifest needs; deleted them, run again.')
  with open(os.path.join(folder, COMPLETE_MARKER), 'w', encoding='utf-8') as f:
    f.write(entry.url + '\n')
