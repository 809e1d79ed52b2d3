"""bin/demo, the README's main command, run for real into a temporary folder."""

import glob
import os
import subprocess

from midime_testing import testdata_lib

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bin',
                    'demo')


def test_demo_trains_and_writes_samples_reconstructions_and_prior(
    mel_2bar_small_checkpoint, tmp_path):
  del mel_2bar_small_checkpoint  # The demo finds it through ../shared.
  env = dict(os.environ, MIDIME_MAGENTA_CACHE=str(tmp_path / 'cache'),
             MIDIME_SHARED_DIR=testdata_lib.shared_dir())
  result = subprocess.run([DEMO, str(tmp_path / 'out')], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Using the official mel_2bar_small' in result.stdout
  for mode in ('sample', 'reconstruct', 'prior'):
    midis = glob.glob(str(tmp_path / 'out' / mode / '*.mid'))
    assert len(midis) == 6, (mode, midis)  # 5 outputs and their concatenation.
    assert len(glob.glob(str(tmp_path / 'out' / mode / '*.png'))) == 6
  assert glob.glob(str(tmp_path / 'out' / 'run_*' / 'loss.png'))
  assert str(tmp_path / 'out' / 'sample') in result.stdout
