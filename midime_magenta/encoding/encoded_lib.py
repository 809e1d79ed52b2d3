"""Encoded shards: MusicVAE's mu of many chunks, as midime_encode writes them.

  encoded-00000-of-00004.tfrecord   a tf.train.Example per chunk: mu, path,
                                    record (-1 for MIDI), chunk, start
  skipped-00000-of-00001.jsonl      {"source", "reason"} per input with no chunk
  manifest.json                     written last, the commit point

The chunks are those `midime_train` cuts (chunking_lib), read back in its
order (path, record, chunk), so training on shards gives what training on the
MIDI gives. Reading needs TensorFlow, not Beam. A folder already holding an
encoding is refused as an output: two would mix silently.
"""

import json
import os
import re

import numpy as np

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import run_lib

MANIFEST = run_lib.ENCODED_MANIFEST
FORMAT = 'midime_magenta.encoded'
VERSION = 1
SHARD_PREFIX = 'encoded'
SHARD_SUFFIX = '.tfrecord'
SKIPPED_PREFIX = 'skipped'
SKIPPED_SUFFIX = '.jsonl'
_SHARD = re.compile(r'encoded-\d{5}-of-\d{5}\.tfrecord')
_MAX_MANIFEST_BYTES = 1 << 24
# midime_encode's runner when --pipeline_options names none: Beam's own, on
# this machine, with one worker process per core of a small machine.
DEFAULT_PIPELINE_OPTIONS = ('--runner=DirectRunner', '--direct_num_workers=2',
                            '--direct_running_mode=multi_processing')
# Chunks per MusicVAE batch (midime_train, midime_encode): the fastest of
# 32-256 on 2 cores (bin/bench, 2026-12-02: 1,712 chunks/s, 1,548 at 256).
ENCODE_BATCH_SIZE = 128


class EncodedError(errors.MidiMeError):
  """Encoded shards that are missing, damaged or for another MusicVAE."""


def check_location(folder, what):
  """EncodedError for a scheme TensorFlow cannot read (http://, ...)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if '://' not in folder:
    return
  try:
    tf.io.gfile.exists(folder)
  except tf.errors.OpError:
    scheme = folder.split('://', 1)[0]
    raise EncodedError(
        f'{what} {folder}: TensorFlow cannot read {scheme}:// addresses; use '
        'a local folder or gs:// (download it first).') from None


def _check_files(paths, missing):
  """EncodedError `missing(path)` for a file that is not there, or for a
  local one that is not a regular file (a FIFO would block)."""
  from tensorflow.io import gfile  # pylint: disable=g-import-not-at-top
  for path in paths:
    if not gfile.exists(path):
      raise EncodedError(missing(path))
    if '://' not in path and not os.path.isfile(path):
      raise EncodedError(f'{path} is not a regular file (a pipe, device or '
                         'folder stands there); encode again.')


def check_output_dir(folder):
  """Refuses an output folder holding (part of) an encoding; raises EncodedError."""
  from tensorflow.io import gfile  # pylint: disable=g-import-not-at-top
  if '://' not in folder:
    existing = file_util.nearest_existing(folder)[0]
    if os.path.isdir(existing) and not os.access(existing, os.W_OK | os.X_OK):
      why = ('is on a read-only filesystem' if os.statvfs(existing).f_flag &
             os.ST_RDONLY else 'cannot be written by this user')
      raise EncodedError(f'--output_dir {folder} {why}; choose another '
                         'folder.')
  if not gfile.exists(folder):
    return
  if not gfile.isdir(folder):
    raise EncodedError(f'--output_dir {folder} is a file; choose a folder.')
  ours = sorted(n for n in gfile.listdir(folder) if n == MANIFEST or
                n.startswith((f'{SHARD_PREFIX}-', f'{SKIPPED_PREFIX}-')))
  if ours:
    what = 'an encoding' if MANIFEST in ours else (
        'part of an unfinished encoding')
    raise EncodedError(
        f'{folder} already holds {what} '
        f'({", ".join(ours[:3])}{", ..." if len(ours) > 3 else ""}); '
        'choose a new --output_dir (a second run there would mix two '
        'encodings).')


def chunk_example(mu, path, record, chunk, start):
  """One chunk as a serialized tf.train.Example (`path` as str or as its
  UTF-8 bytes, surrogate-escaped)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not isinstance(path, bytes):
    path = path.encode('utf-8', 'surrogateescape')
  return tf.train.Example(features=tf.train.Features(feature={
      'mu': tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(mu))),
      'path': tf.train.Feature(bytes_list=tf.train.BytesList(value=[path])),
      'record': tf.train.Feature(int64_list=tf.train.Int64List(value=[record])),
      'chunk': tf.train.Feature(int64_list=tf.train.Int64List(value=[chunk])),
      'start': tf.train.Feature(float_list=tf.train.FloatList(value=[start])),
  })).SerializeToString()


def source_name(path, record):
  """The source name midime_train gives a chunk's sequence."""
  return path if record < 0 else f'{path}#{record}'


def write_manifest(folder, manifest):
  """Writes manifest.json last, atomically: the encoding is then finished."""
  return file_util.write_json(os.path.join(folder, MANIFEST),
                              {'format': FORMAT, 'version': VERSION,
                               **manifest})


def read_manifest(folder):
  """Reads and checks an encoding's manifest; raises EncodedError."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  check_location(folder, 'The encoding')
  path = os.path.join(folder, MANIFEST)
  _check_files([path], lambda unused_path: (
      f'{folder} holds no finished encoding (no {MANIFEST}); run '
      'midime_encode with --output_dir there first.'))
  damaged = lambda why: EncodedError(  # pylint: disable=g-long-lambda
      f'The encoding manifest {path} is damaged ({why}); encode again.')
  try:
    with tf.io.gfile.GFile(path, 'rb') as f:
      raw = f.read(_MAX_MANIFEST_BYTES + 1)
    if len(raw) > _MAX_MANIFEST_BYTES:
      raise damaged('it is far larger than a manifest')
    meta = json.loads(raw.decode('utf-8'))
  except (UnicodeDecodeError, ValueError, RecursionError) as e:
    raise damaged(type(e).__name__) from None
  except (tf.errors.OpError, OSError) as e:
    raise EncodedError(f'The encoding manifest {path} cannot be read '
                       f'({type(e).__name__}).') from None
  if not isinstance(meta, dict) or meta.get('format') != FORMAT:
    raise damaged('it is not a midime_encode manifest')
  if meta.get('version') != VERSION:
    raise EncodedError(f'{path} is of format version {meta.get("version")!r}; '
                       f'this midime_magenta reads {VERSION}; encode again.')
  music_vae, shards, chunks = map(meta.get, ('music_vae', 'shards', 'chunks'))
  if not (isinstance(music_vae, dict) and
          isinstance(music_vae.get('config'), str) and
          isinstance(music_vae.get('fingerprint'), str) and
          type(music_vae.get('z_size')) is int and  # Not a bool.
          1 <= music_vae['z_size'] <= 8192):
    raise damaged('its MusicVAE is not described')
  if not (isinstance(shards, list) and
          all(isinstance(s, str) and _SHARD.fullmatch(s) for s in shards)):
    raise damaged('its shard list is not shard names')
  if not (isinstance(chunks, int) and not isinstance(chunks, bool) and
          0 <= chunks <= 10**9):
    raise damaged('its chunk count is impossible')
  return meta


def load_training_data(folder, expect_music_vae=None):
  """An encoding's chunks as (`run_lib.TrainingData`, manifest), in order;
  EncodedError, or ModelMismatchError for another MusicVAE than expected."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  meta = read_manifest(folder)
  if expect_music_vae is not None:
    run_lib.check_music_vae_matches(meta['music_vae'], expect_music_vae,
                                    folder, 'The encoding')
  z_size = meta['music_vae']['z_size']
  files = [os.path.join(folder, s) for s in meta['shards']]
  _check_files(files, lambda path: f'{path} is missing; encode again.')
  spec = {'mu': tf.io.FixedLenFeature([z_size], tf.float32),
          'path': tf.io.FixedLenFeature([], tf.string),
          'record': tf.io.FixedLenFeature([], tf.int64),
          'chunk': tf.io.FixedLenFeature([], tf.int64),
          'start': tf.io.FixedLenFeature([], tf.float32)}
  parts = {k: [np.zeros([0, *f.shape], f.dtype.as_numpy_dtype)]
           for k, f in spec.items()}
  try:
    for batch in tf.data.TFRecordDataset(files).batch(4096):
      parsed = tf.io.parse_example(batch, spec)
      for k in spec:
        parts[k].append(parsed[k].numpy())
  except (tf.errors.OpError, ValueError) as e:
    raise EncodedError(f'The shards in {folder} are damaged '
                       f'({type(e).__name__}); encode again.') from None
  mu, path, record, chunk, start = (np.concatenate(parts[k]) for k in spec)
  if len(mu) != meta['chunks']:
    raise EncodedError(f'The shards in {folder} hold {len(mu)} chunks and '
                       f'its manifest says {meta["chunks"]}; encode again.')
  if not np.all(np.isfinite(mu)):
    raise EncodedError(f'The shards in {folder} hold NaN; encode again.')
  paths = [p.decode('utf-8', 'surrogateescape') for p in path]
  order = sorted(range(len(paths)), key=lambda i: (
      paths[i], int(record[i]), int(chunk[i])))
  return run_lib.TrainingData(
      z=mu[order].astype(np.float32),
      sources=[source_name(paths[i], int(record[i])) for i in order],
      starts=[float(start[i]) for i in order]), meta
