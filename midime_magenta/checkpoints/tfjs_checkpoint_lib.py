"""Magenta.js checkpoints (a manifest and shards of little-endian float32 or
quantized weights, named as in TF) converted to TF checkpoints."""

import hashlib
import os
import pathlib
import shutil

import numpy as np

from midime_magenta import errors
from midime_magenta import file_util

MANIFEST = 'weights_manifest.json'
_DTYPES = {'float32': '<f4', 'uint8': 'u1', 'uint16': '<u2', 'float16': '<f2'}


class TfjsCheckpointError(errors.MidiMeError):
  """A Magenta.js checkpoint folder that cannot be read."""


_MAX_MANIFEST_BYTES = 1 << 20
_MAX_WEIGHT_VALUES = 200_000_000  # Twice the largest MusicVAE.
_QUANTIZED = ('uint8', 'uint16', 'float16')


def _check_weight(weight):
  """Raises ValueError unless a manifest weight entry is well formed."""
  if not isinstance(weight, dict):
    raise ValueError('a weight entry is not an object')
  name, shape = weight.get('name'), weight.get('shape')
  if not isinstance(name, str) or not name:
    raise ValueError('a weight has no name')
  if not isinstance(shape, list) or not all(
      isinstance(d, int) and not isinstance(d, bool) and d >= 0
      for d in shape):
    raise ValueError(f'weight {name!r} has no valid shape ({shape!r})')
  if int(np.prod(shape, dtype=np.float64)) > _MAX_WEIGHT_VALUES:
    raise ValueError(f'weight {name!r} is impossibly large')
  if weight.get('dtype', 'float32') != 'float32':
    raise ValueError(f'weight {name!r} has dtype {weight.get("dtype")!r}; '
                     'MusicVAE weights are float32')
  quantization = weight.get('quantization')
  if quantization is None:
    return
  if not isinstance(quantization, dict) or quantization.get(
      'dtype') not in _QUANTIZED:
    raise ValueError(f'weight {name!r} has an unknown quantization')
  for key in ('min', 'scale') if quantization['dtype'] != 'float16' else ():
    value = quantization.get(key)
    if isinstance(value, bool) or not isinstance(
        value, (int, float)) or not np.isfinite(value):
      raise ValueError(f'weight {name!r} has no valid quantization {key}')


def read_manifest(folder):
  """weights_manifest.json, every field checked before anything is allocated."""
  path = os.path.join(folder, MANIFEST)
  try:
    manifest = file_util.read_json(path, _MAX_MANIFEST_BYTES, 'a manifest')
    if not isinstance(manifest, list) or not manifest:
      raise ValueError('not a list of weight groups')
    for group in manifest:
      if not isinstance(group, dict) or not isinstance(
          group.get('paths'), list) or not isinstance(
              group.get('weights'), list):
        raise ValueError('a group lacks "paths" or "weights"')
      if not all(isinstance(p, str) and file_util.SAFE_NAME.fullmatch(
          os.path.basename(p)) for p in group['paths']):
        raise ValueError('a shard path is not a plain file name')
      for weight in group['weights']:
        _check_weight(weight)
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    raise TfjsCheckpointError(
        f'{path} is not a usable Magenta.js weights manifest ({e}); fetch '
        'the checkpoint again.') from None
  return manifest


def _stored(weight):
  """(values, numpy dtype) of a checked manifest entry's stored form."""
  quantization = weight.get('quantization') or {'dtype': 'float32'}
  return (int(np.prod(weight['shape'], dtype=np.int64)),
          np.dtype(_DTYPES[quantization['dtype']]))


def group_sizes(manifest):
  """Total bytes each group's shards must hold, from the manifest alone."""
  return [sum(n * dtype.itemsize for n, dtype in map(_stored, group['weights']))
          for group in manifest]


def read_weights(folder):
  """{name: float32 array} of a Magenta.js folder; raises TfjsCheckpointError."""
  weights = {}
  manifest = read_manifest(folder)
  for group, expected in zip(manifest, group_sizes(manifest)):
    try:
      data = b''.join(pathlib.Path(folder, os.path.basename(name)).read_bytes()
                      for name in group['paths'])
    except OSError as e:
      raise TfjsCheckpointError(
          f'Shard {e.filename} is missing; fetch the checkpoint again.') from None
    if len(data) != expected:
      raise TfjsCheckpointError(
          f'The shards in {folder} hold {len(data)} bytes, but the manifest '
          f'needs {expected}; fetch the checkpoint again.')
    offset = 0
    for weight in group['weights']:  # float32 all, as read_manifest checked.
      count, dtype = _stored(weight)
      values = np.frombuffer(data, dtype, count, offset).astype(np.float32)
      offset += count * dtype.itemsize
      quantization = weight.get('quantization')
      if quantization and quantization['dtype'] != 'float16':
        values = values * quantization['scale'] + quantization['min']
      weights[weight['name']] = values.reshape(weight['shape'])
  return weights


def files_key(paths):
  """A short key of files' paths and stats, without reading gigabytes on
  every run (OSError for a file missing). ctime too: a copy that restores a
  file's size and mtime (cp -p, rsync -a, tar) cannot restore it."""
  stats = [(os.path.abspath(p), os.stat(p)) for p in paths]
  return hashlib.sha256(repr([
      (p, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
      for p, s in stats]).encode()).hexdigest()[:16]


def convert_to_tf_checkpoint(folder, cache_root, fill_zeros=None):
  """Converts once (into `cache_root/converted/<key>/`, written aside and
  renamed) and returns the prefix; `fill_zeros` {name: shape} fill what the
  manifest lacks."""
  names = [MANIFEST] + [os.path.basename(p) for g in read_manifest(folder)
                        for p in g['paths']]
  try:
    key = files_key(os.path.join(folder, name) for name in names)
  except OSError as e:
    raise TfjsCheckpointError(
        f'The Magenta.js checkpoint in {folder} lacks '
        f'{os.path.basename(e.filename)} or cannot be read ({e.strerror}); '
        'download the whole folder again.') from None
  target = os.path.join(cache_root, 'converted', key)
  prefix = os.path.join(target, 'model.ckpt')
  if os.path.exists(prefix + '.index'):
    return prefix
  weights = read_weights(folder)
  for name, shape in (fill_zeros or {}).items():
    weights.setdefault(name, np.zeros(shape, np.float32))
  partial = f'{target}.partial-{os.getpid()}'
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  names = sorted(weights) + ['global_step']
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (listing needs no TF)
  tensors = [tf.constant(weights[n]) for n in sorted(weights)] + [
      tf.constant(0, tf.int64)]
  tf.raw_ops.SaveV2(prefix=os.path.join(partial, 'model.ckpt'),
                    tensor_names=names, shape_and_slices=[''] * len(names),
                    tensors=tensors)
  pathlib.Path(partial, 'checkpoint').write_text(
      'model_checkpoint_path: "model.ckpt"\n', encoding='utf-8')
  try:
    os.rename(partial, target)
  except OSError:  # Another process converted it first.
    shutil.rmtree(partial, ignore_errors=True)
  return prefix
