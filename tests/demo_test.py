"""bin/demo, the README's main command, run for real into a temporary folder."""

import glob
import os
import shutil
import subprocess
import sys

from midime_magenta import audio_lib_test
from midime_testing import testdata_lib

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bin',
                    'demo')


def test_demo_trains_and_writes_samples_reconstructions_and_prior(
    mel_2bar_small_checkpoint, tmp_path):
  del mel_2bar_small_checkpoint  # The demo finds it through ../shared.
  env = dict(os.environ, MIDIME_MAGENTA_CACHE=str(tmp_path / 'cache'),
             MIDIME_SHARED_DIR=testdata_lib.shared_dir())
  earlier = tmp_path / 'out' / '20261201_120000' / 'sample'
  earlier.mkdir(parents=True)
  (earlier / 'mine.mid').write_bytes(b'an earlier run')
  # stdout is a pipe here, as in CI or `bin/demo | tee`.
  result = subprocess.run([DEMO, str(tmp_path / 'out')], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Using the official mel_2bar_small' in result.stdout
  assert [line[:5] for line in result.stdout.splitlines()
          if line.startswith('[')] == ['[1/4]', '[2/4]', '[3/4]', '[4/4]']
  runs = sorted(os.listdir(tmp_path / 'out'))
  assert len(runs) == 2 and runs[0] == '20261201_120000', runs
  assert os.listdir(earlier) == ['mine.mid']  # The earlier run is untouched.
  out = tmp_path / 'out' / runs[1]
  for mode in ('sample', 'reconstruct', 'prior'):
    midis = sorted(glob.glob(str(out / mode / '*.mid')))
    assert len(midis) == 6, (mode, midis)  # 5 outputs and their concatenation.
    assert len(glob.glob(str(out / mode / '*.png'))) == 6
    for midi in midis:
      audio_lib_test.check_ready_to_use(midi[:-4] + '.wav', midi)
  assert os.path.isfile(out / 'run' / 'loss.png')
  closing = result.stdout[result.stdout.index(f'In {out}/:'):]
  for said in ('sample/', 'reconstruct/', 'prior/', 'run/', '.wav',
               'Listen', 'audio player'):
    assert said in closing, closing


def test_without_the_official_model_it_says_where_it_comes_from(tmp_path):
  # A copy of the checkout with no ../shared beside it and an empty cache.
  checkout = tmp_path / 'checkout'
  for part in ('bin', 'midime_magenta', 'midime_testing', 'testdata',
               'setup.py'):
    copy = shutil.copytree if os.path.isdir(
        os.path.join(testdata_lib.ROOT, part)) else shutil.copy
    copy(os.path.join(testdata_lib.ROOT, part), checkout / part)
  env = {k: v for k, v in os.environ.items() if k != 'MIDIME_SHARED_DIR'}
  env.update(MIDIME_MAGENTA_CACHE=str(tmp_path / 'cache'),
             MIDIME_VENV=sys.prefix)
  result = subprocess.run([str(checkout / 'bin' / 'demo'),
                           str(tmp_path / 'out')], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'tiny checkpoint' in result.stdout
  assert '`midime_checkpoints --fetch=mel_2bar_small`' in result.stdout
  assert '../shared' in result.stdout
  (run,) = os.listdir(tmp_path / 'out')
  assert len(glob.glob(str(tmp_path / 'out' / run / 'sample' / '*.wav'))) == 6
