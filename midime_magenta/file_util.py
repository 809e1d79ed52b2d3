"""Small file helpers shared by the model, training and downloads."""

import hashlib
import json
import os


def sha256_file(path):
  """The sha256 hex digest of a file, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def write_json_atomically(path, value):
  """Writes JSON to a temporary file, syncs it, and renames it into place."""
  tmp = f'{path}.{os.getpid()}.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.write('\n')
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
