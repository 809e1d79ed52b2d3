"""The MusicVAE checkpoints known by name (pinned where known), and those
refused; $MIDIME_CHECKPOINT_TABLE may name a JSON file of more rows."""

import dataclasses
import hashlib
import os
import re
import urllib.parse

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta.checkpoints import tfjs_config_lib


class CatalogueError(errors.MidiMeError):
  """A checkpoint table ($MIDIME_CHECKPOINT_TABLE) that cannot be used."""


_JS_BASE = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_vae'
_TAR_BASE = ('https://storage.googleapis.com/magentadata/models/music_vae/'
             'checkpoints')

@dataclasses.dataclass(frozen=True)
class CheckpointEntry:
  """A `--checkpoint_file` name; 'tfjs' (folder URL) or 'tar' (.tar URL); the
  Python config it loads with, or None; bytes and {file: sha256} if known."""
  name: str
  kind: str
  url: str
  config: str | None
  size: int | None = None
  sha256: dict = dataclasses.field(default_factory=dict)
  note: str = ''


_MEL_2BAR_SMALL_PINS = {
    'config.json': '9d61c1182d4fd99726762bf1bb137ea44fbe224835063818355e5c69180aaf50',
    'weights_manifest.json': '8520ed17fd2406215ac558c34871d184cf651ecffcfc03dff0eb381c3124cb1a',
    'group1-shard5of5': '7f32a9ac0ec69bc980defa41073ac4c2e311cc99d37d98e75d94535dff7cfc59',
}
# (name, Python config or None: Magenta.js checkpoints carry their own, note).
_JS_ROWS = [
    ('mel_4bar_small_q2', None, '4-bar melodies, 2-byte weights (26.5 MB).'),
    ('mel_4bar_med_q2', None, '4-bar melodies, medium, 2-byte weights (65.4 MB).'),
    ('mel_4bar_med_lokl_q2', None, '4-bar melodies, medium, strong prior, '
     '2-byte weights (65.4 MB).'),
    ('mel_16bar_small_q2', None, '16-bar melodies, 16-step conductor, 2-byte '
     'weights (23.5 MB).'),
    ('trio_4bar', None, 'The MidiMe demo\'s trio model: melody, bass, drums; '
     '4-step conductor, 1-byte weights (17.6 MB).'),
    ('trio_16bar', None, '16-bar trios, very large (1.71 GB).'),
    ('drums_2bar_lokl_small', 'cat-drums_2bar_small',
     '2-bar drums, strong prior (18.5 MB).'),
    ('drums_2bar_hikl_small', 'cat-drums_2bar_small',
     '2-bar drums, weak prior (18.5 MB).'),
    ('drums_2bar_nade_9_q2', None, '2-bar drums, NADE decoder, 2-byte weights '
     '(27.6 MB).'),
    ('drums_4bar_med_q2', None, '4-bar drums, medium, 2-byte weights (68.2 MB).'),
    ('drums_4bar_med_lokl_q2', None, '4-bar drums, medium, strong prior, '
     '2-byte weights (68.2 MB).'),
]
_TAR_ROWS = [('cat-mel_2bar_big', 'About 1.6 GB.'), ('hierdec-mel_16bar', ''),
             ('hierdec-trio_16bar', ''),
             ('cat-drums_2bar_small.lokl', ''), ('cat-drums_2bar_small.hikl', ''),
             ('nade-drums_2bar_reduced', ''), ('nade-drums_2bar_full', '')]
OFFICIAL_CHECKPOINTS = {e.name: e for e in [
    CheckpointEntry('mel_2bar_small', 'tfjs', f'{_JS_BASE}/mel_2bar_small',
                    'cat-mel_2bar_small', 17695080, _MEL_2BAR_SMALL_PINS,
                    'The MidiMe demo\'s melody model (17.7 MB); 3 files pinned '
                    'from the released copy.'),
    *(CheckpointEntry(n, 'tfjs', f'{_JS_BASE}/{n}', c, note=note)
      for n, c, note in _JS_ROWS),
    *(CheckpointEntry(n, 'tar', f'{_TAR_BASE}/{n}.tar', n.split('.')[0],
                      note=note) for n, note in _TAR_ROWS),
]}

# Magenta.js checkpoints MidiMe does not personalize, and why.
_WHY = tfjs_config_lib.UNSUPPORTED_CONVERTERS
_FB = (0, 8, 16, 32)
REFUSED_CHECKPOINTS = {
    **dict.fromkeys(['mel_chords', 'multitrack_chords', 'multitrack_med_chords',
                     'multitrack_med_chords_fb256',
                     *(f'mel_2bar_multicontrol_tiny_fb{n}' for n in _FB)],
                    tfjs_config_lib.CHORD_CONDITIONED),
    **dict.fromkeys(['multitrack', 'multitrack_med', 'multitrack_med_fb256'],
                    _WHY['MultitrackConverter']),
    **dict.fromkeys(['groovae_2bar_humanize', 'groovae_4bar',
                     *(f'tap2drum_{n}bar' for n in range(1, 5))],
                    _WHY['GrooveConverter']),
    **dict.fromkeys([f'mel_{k}_2bar_tiny_fb{n}' for k in ('rhythm', 'shape')
                     for n in _FB], _WHY['MelodyRhythmConverter']),
    'drums_2bar_nade_9': 'use its published name, drums_2bar_nade_9_q2',
}


def known_checkpoints():
  """The official table plus entries from $MIDIME_CHECKPOINT_TABLE."""
  table = dict(OFFICIAL_CHECKPOINTS)
  extra = os.environ.get('MIDIME_CHECKPOINT_TABLE')
  if extra:
    try:
      rows = file_util.read_json(extra, 1 << 20, 'a table')
      if not isinstance(rows, list):
        raise ValueError('not a list')
      table.update((e.name, e) for e in map(_checked_entry, rows))
    except (OSError, UnicodeDecodeError, ValueError, TypeError,
            RecursionError) as e:
      raise CatalogueError(
          f'$MIDIME_CHECKPOINT_TABLE {extra} is not a list of checkpoint '
          f'entries ({e}).') from None
  return table


def _checked_entry(raw):
  """A table row's CheckpointEntry, every field checked (else ValueError)."""
  if not isinstance(raw, dict):
    raise ValueError('an entry is not an object')
  entry = CheckpointEntry(**raw)
  name, size, pins = entry.name, entry.size, entry.sha256
  for ok, why in [
      (isinstance(name, str) and file_util.SAFE_NAME.fullmatch(name) and
       '..' not in name,
       f'name {name!r} may hold only letters, digits, ".", "_" and "-"'),
      (entry.kind in ('tfjs', 'tar'), f'{name}: kind must be "tfjs" or "tar"'),
      (isinstance(entry.url, str) and is_url(entry.url),
       f'{name}: url must be http(s) or gs://'),
      (size is None or type(size) is int and size > 0,  # pylint: disable=unidiomatic-typecheck
       f'{name}: size must be a positive integer'),
      (isinstance(pins, dict) and all(
          isinstance(k, str) and file_util.SAFE_NAME.fullmatch(k) and
          isinstance(v, str) for k, v in pins.items()),
       f'{name}: sha256 must map file names to hashes'),
      (all(v is None or isinstance(v, str) for v in (entry.config, entry.note)),
       f'{name}: config and note must be strings')]:
    if not ok:
      raise ValueError(why)
  return dataclasses.replace(entry, url=public_url(entry.url))


def is_url(text):
  return urllib.parse.urlparse(text).scheme in ('http', 'https', 'gs')


def public_url(url):
  """A gs:// path as its public HTTPS address."""
  parsed = urllib.parse.urlparse(url)
  if parsed.scheme == 'gs':
    return f'https://storage.googleapis.com/{parsed.netloc}{parsed.path}'
  return url


def checkpoint_name(entry):
  """The table's name, or a URL's last part (.../music_vae/trio_4bar)."""
  if not entry.name.startswith('url-'):
    return entry.name
  last = os.path.basename(urllib.parse.urlparse(entry.url).path.rstrip('/'))
  last = re.sub(r'(?i)\.tar$', '', re.sub(r'[^A-Za-z0-9._-]', '_', last))
  return last if file_util.SAFE_NAME.fullmatch(last) and '..' not in last else (
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
