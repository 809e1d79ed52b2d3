"""Root pytest set-up: the TF environment first, absl flags parsed, fixtures.

`shared` data (../shared) is required in CI (CI=true): a test that needs it
fails there when it is missing, and skips with the reason elsewhere.
"""

import os
import sys

import midime_magenta  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF loads)
import pytest
from absl import flags

from midime_testing import testdata_lib


def pytest_configure(config):
  del config
  # Scripts define absl flags; parse them once so importing a script works.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(sys.argv[:1], known_only=True)


def _need_shared(path, what):
  if path:
    return path
  message = (f'{what} not found: put the shared data folder beside the '
             'checkout (../shared) or set MIDIME_SHARED_DIR.')
  if os.environ.get('CI'):
    pytest.fail(message)
  pytest.skip(message)


@pytest.fixture(scope='session')
def mel_2bar_small_checkpoint():
  """Prefix of ../shared's official mel_2bar_small checkpoint."""
  return _need_shared(testdata_lib.official_mel_2bar_small(),
                      'The official mel_2bar_small checkpoint')


@pytest.fixture(scope='session')
def mel_2bar_small(mel_2bar_small_checkpoint):
  """The official mel_2bar_small, restored once per session."""
  from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
  return music_vae_lib.load_music_vae(
      'cat-mel_2bar_small', mel_2bar_small_checkpoint, batch_size=64)


@pytest.fixture(scope='session')
def tiny_mel():
  """The bundled tiny-mel_2bar MusicVAE, restored once per session."""
  from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
  return music_vae_lib.load_music_vae(
      testdata_lib.tiny_config('tiny-mel_2bar'),
      testdata_lib.tiny_checkpoint('tiny-mel_2bar'), batch_size=16)
