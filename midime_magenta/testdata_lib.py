"""Paths to bundled fixtures and to the `../shared` data beside a checkout.

Resolved from the package, never from the current directory, so tests and
the demo work from anywhere.
"""

import importlib.resources
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def testdata_path(*parts):
  """Path of a file bundled in `testdata/` (shipped as midime_magenta.testdata)."""
  root = importlib.resources.files('midime_magenta.testdata')
  return os.path.join(str(root), *parts)


def tiny_checkpoint(config_name):
  """The bundled tiny checkpoint folder for a `tiny-*` config."""
  return testdata_path('checkpoints', config_name)


def shared_dir():
  """`../shared` beside the checkout, or $MIDIME_SHARED_DIR; None if absent."""
  candidates = [os.environ.get('MIDIME_SHARED_DIR'),
                os.path.join(_PACKAGE_DIR, '..', '..', 'shared')]
  for candidate in filter(None, candidates):
    if os.path.isdir(candidate):
      return os.path.abspath(candidate)
  return None


def shared_path(*parts):
  """A path under the shared folder, or None when it is not there."""
  root = shared_dir()
  if root is None:
    return None
  path = os.path.join(root, *parts)
  return path if os.path.exists(path) else None


def official_mel_2bar_small():
  """Prefix of the official mel_2bar_small in ../shared, or None."""
  index = shared_path('checkpoints', 'mel_2bar_small', 'model.ckpt.index')
  return index[:-len('.index')] if index else None
