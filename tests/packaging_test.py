"""The package works however it is installed: a wheel, and editable installs
with the pip and setuptools Colab has (24.1.2, 75.2.0), PEP 660 and legacy.

Each install goes into a fresh place, and `midime_train` then trains on a
real tune from there, from a folder outside the checkout, so nothing can be
found through the checkout by accident. The dependencies (TensorFlow and the
rest) come from this test environment's site-packages through a path entry:
only this package's own installation is under test.
"""

import glob
import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from midime_testing import testdata_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE_PACKAGES = sysconfig.get_paths()['purelib']
TRAIN_ARGS = ['--config=' + testdata_lib.tiny_config('tiny-mel_2bar'), '--num_epochs=3', '--log=WARNING']


def _run(*args, cwd, env=None):
  result = subprocess.run(args, capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=900, check=False)
  assert result.returncode == 0, (args, result.stdout[-3000:],
                                  result.stderr[-3000:])
  return result


def _train_from(python, env, tmp_path):
  """Runs midime_train with `python`; returns where the package came from."""
  where = _run(python, '-c', 'import midime_magenta, sys; '
               'from midime_magenta import notebook_lib; '
               'print(midime_magenta.__file__); '
               'print(notebook_lib.DEMO_TUNE)',
               cwd=tmp_path, env=env).stdout.split()
  _run(python, '-m', 'midime_magenta.midime_train', *TRAIN_ARGS,
       '--checkpoint_file=' + testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
       f'--input_midi={where[1]}', f'--run_dir={tmp_path / "run"}',
       cwd=tmp_path, env=env)
  assert os.path.isfile(tmp_path / 'run' / 'midime.json')
  return where


def test_wheel_installs_and_trains(tmp_path):
  dist = tmp_path / 'dist'
  _run(sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
       '--no-build-isolation', '-w', str(dist), ROOT, cwd=tmp_path)
  wheel = glob.glob(str(dist / 'midime_magenta-*.whl'))[0]
  target = tmp_path / 'installed'
  _run(sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target',
       str(target), wheel, cwd=tmp_path)
  env = dict(os.environ, PYTHONPATH=str(target))
  where = _train_from(sys.executable, env, tmp_path)
  assert all(w.startswith(str(target)) for w in where), where


def test_the_wheel_holds_the_library_only(tmp_path):
  dist = tmp_path / 'dist'
  _run(sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
       '--no-build-isolation', '-w', str(dist), ROOT, cwd=tmp_path)
  with zipfile.ZipFile(glob.glob(str(dist / 'midime_magenta-*.whl'))[0]) as w:
    names = [n for n in w.namelist() if '.dist-info/' not in n]
  assert all(n.startswith('midime_magenta/') for n in names), names
  assert not [n for n in names if n.endswith('_test.py') or 'testdata' in n
              or 'testing' in n], names
  data = sorted(n for n in names if not n.endswith('.py'))
  # The piano roll that plays is the page's own, served from the package.
  assert data == ['midime_magenta/data/pianoroll.css',
                  'midime_magenta/data/pianoroll.js',
                  'midime_magenta/data/reel_4-4.mid',
                  'midime_magenta/musicvae_variables.json',
                  'midime_magenta/studio/studio.css'], data
  library = [n for n in names if n.endswith('.py')]
  assert 'midime_magenta/personalizer.py' in library


@pytest.fixture(scope='module')
def colab_pip_venv(tmp_path_factory):
  """A fresh venv with Colab's pip and setuptools, seeing our dependencies."""
  venv = tmp_path_factory.mktemp('colab_pip')
  _run(sys.executable, '-m', 'venv', str(venv), cwd=venv)
  python = str(venv / 'bin' / 'python')
  _run(python, '-m', 'pip', 'install', '-q', 'pip==24.1.2',
       'setuptools==75.2.0', 'wheel', cwd=venv)
  site = _run(python, '-c', 'import sysconfig; '
              'print(sysconfig.get_paths()["purelib"])', cwd=venv).stdout
  # Our dependencies, without any installed copy of this package (the Colab
  # copy has the wheel installed): links to everything else in this
  # environment's site-packages, seen through one path entry (whose own .pth
  # files stay unread).
  deps = venv / 'dependencies'
  deps.mkdir()
  for name in os.listdir(SITE_PACKAGES):
    if not name.startswith(('midime_magenta', '__editable__')):
      os.symlink(os.path.join(SITE_PACKAGES, name), deps / name)
  with open(os.path.join(site.strip(), 'test_dependencies.pth'), 'w',
            encoding='utf-8') as f:
    f.write(str(deps) + '\n')
  return python


@pytest.mark.parametrize('mode', ['pep660', 'legacy'])
def test_editable_install_with_colabs_pip(colab_pip_venv, tmp_path, mode):
  python = colab_pip_venv
  if mode == 'legacy':
    # What pip did before pyproject.toml existed. pip itself now refuses
    # --no-use-pep517 for this project, so call setuptools directly.
    _run(python, 'setup.py', '-q', 'develop', '--no-deps', cwd=ROOT)
  else:
    _run(python, '-m', 'pip', 'install', '-q', '--no-deps',
         '--no-build-isolation', '-e', ROOT, cwd=tmp_path)
  try:
    where = _train_from(python, None, tmp_path)
    assert where[0].startswith(os.path.join(ROOT, 'midime_magenta')), where
    assert os.path.isfile(where[1]), where  # The demo tune found, either way.
  finally:
    if mode == 'legacy':
      subprocess.run([python, 'setup.py', '-q', 'develop', '--uninstall'],
                     cwd=ROOT, capture_output=True, check=False)
    else:
      subprocess.run([python, '-m', 'pip', 'uninstall', '-q', '-y',
                      'midime-magenta'], capture_output=True, check=False)
