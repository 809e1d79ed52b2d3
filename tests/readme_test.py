"""The README, run as a new user runs it: its install block in a fresh
folder outside the checkout, then its first-sample and listen blocks there,
as written.

Two things stand in for what this machine cannot reach: the dependencies come
from this environment's site-packages through a path entry (so pip installs
only magenta and this package, and finds the rest satisfied), and
`mel_2bar_small` is served from ../shared over 127.0.0.1 through
$MIDIME_CHECKPOINT_TABLE, the catalogue's own way to name another host.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import note_seq

from midime_magenta import audio_lib_test
from midime_testing import testdata_lib

README = os.path.join(testdata_lib.ROOT, 'README.md')
SITE_PACKAGES = sysconfig.get_paths()['purelib']


def _block(marker, lang):
  with open(README, encoding='utf-8') as f:
    text = f.read()
  match = re.search(rf'<!-- {marker} -->\n```{lang}\n(.*?)```', text, re.S)
  assert match, f'README.md has no <!-- {marker} --> {lang} block'
  return match.group(1)


def _listen_commands():
  with open(README, encoding='utf-8') as f:
    text = f.read()
  section = text[text.index('## Listen'):text.index('## Colab')]
  return re.search(r'```bash\n(.*?)```', section, re.S).group(1)


def _bash(script, cwd, env):
  result = subprocess.run(['bash', '-euo', 'pipefail', '-c', script],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
  assert result.returncode == 0, (script, result.stdout[-2000:],
                                  result.stderr[-3000:])
  return result


def _notes(path):
  return len(note_seq.midi_file_to_note_sequence(path).notes)


def test_the_readme_from_install_to_listening(tmp_path, mel_2bar_small_checkpoint):
  del mel_2bar_small_checkpoint  # ../shared must be there (it fails in CI).
  home = tmp_path / 'home'
  work = tmp_path / 'work'
  home.mkdir()
  work.mkdir()
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(('VIRTUAL_ENV', 'PYTHON', 'TF_', 'MIDIME_'))}
  env['HOME'] = str(home)
  # `python3` is this test's own interpreter (not its venv): the
  # dependencies linked in below are built for that Python.
  base_bin = tmp_path / 'python'
  base_bin.mkdir()
  os.symlink(os.path.realpath(sys._base_executable), base_bin / 'python3')  # pylint: disable=protected-access
  env['PATH'] = os.pathsep.join([str(base_bin)] + [
      p for p in env['PATH'].split(os.pathsep)
      if not p.startswith(os.path.dirname(sys.executable))])
  install = _block('install', 'bash').replace('/path/to/midime_magenta',
                                              testdata_lib.ROOT)
  first, rest = install.split('\n', 1)
  _bash(first, work, env)  # The venv.
  venv = home / 'midime'
  python = str(venv / 'bin' / 'python')
  site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.'
                         'get_paths()["purelib"])'], capture_output=True,
                        text=True, check=True, env=env).stdout.strip()
  deps = tmp_path / 'dependencies'
  deps.mkdir()
  for name in os.listdir(SITE_PACKAGES):
    if not name.startswith(('midime_magenta', '__editable__', 'magenta')):
      os.symlink(os.path.join(SITE_PACKAGES, name), deps / name)
  with open(os.path.join(site, 'dependencies.pth'), 'w',
            encoding='utf-8') as f:
    f.write(str(deps) + '\n')
  # What the dependencies' own .pth files do (setuptools' distutils shim,
  # which TensorFlow's imports need on Python 3.12+), read after the above.
  for name in os.listdir(SITE_PACKAGES):
    if name.endswith('.pth') and not name.startswith(('__editable__',
                                                       'midime')):
      shutil.copy(os.path.join(SITE_PACKAGES, name), site)
  # The rest of the install block, in the activated venv (its first line).
  _bash(first + '\n' + rest, work, env)
  where = subprocess.run([python, '-c', 'import midime_magenta; '
                          'print(midime_magenta.__file__)'], cwd=work,
                         capture_output=True, text=True, check=True, env=env)
  assert where.stdout.startswith(str(venv)), where.stdout

  tune = work / 'my_tune.mid'
  tune.write_bytes(open(testdata_lib.shared_path(
      'midi', 'folk', '0101-0200_0045.mid'), 'rb').read())
  with testdata_lib.serving(testdata_lib.shared_path('checkpoints')) as url:
    table = tmp_path / 'table.json'
    table.write_text(json.dumps([{
        'name': 'mel_2bar_small', 'kind': 'tfjs',
        'url': f'{url}/mel_2bar_small_tfjs', 'config': 'cat-mel_2bar_small'}]))
    env['MIDIME_CHECKPOINT_TABLE'] = str(table)
    activate = f'. {venv}/bin/activate\n'
    help_text = _bash(activate + 'midime_train --help', work, env).stdout
    assert '--input_midi' in help_text and '--run_dir' in help_text
    first_sample = _block('first-sample', 'bash')
    _bash(activate + first_sample, work, env)
    # "A path to a checkpoint you have works the same": the official one's
    # model.ckpt, which names no config.
    train = first_sample[:first_sample.index('midime_generate')].replace(
        'mel_2bar_small', testdata_lib.official_mel_2bar_small()).replace(
            'my_midime', 'my_midime_from_a_path')
    assert '--checkpoint_file=/' in train and '--config' not in train
    _bash(activate + train, work, env)
    _bash(activate + _listen_commands(), work, env)

  names = sorted(os.listdir(work / 'out'))
  samples = [n for n in names if '_midime-sample_' in n and n.endswith('.mid')]
  assert len(samples) == 6, names  # Five and the concatenation.
  assert all(_notes(work / 'out' / n) for n in samples), samples
  concat = [n for n in samples if '-concat-of-005' in n]
  assert len(concat) == 1
  assert _notes(work / 'out' / concat[0]) == sum(
      _notes(work / 'out' / n) for n in samples if n not in concat)
  for n in samples:  # Ready to use: loud enough, no long silent tail.
    audio_lib_test.check_ready_to_use(str(work / 'out' / (n[:-4] + '.wav')),
                                      str(work / 'out' / n))
  assert [n for n in names if '_prior_' in n and n.endswith('.mid')]
  assert [n for n in names if '_midime-reconstruct_' in n]
  assert not [n for n in names if '_sample_' in n]  # MusicVAE's names.
  assert os.path.isfile(work / 'my_midime' / 'loss.png')
  assert os.path.isfile(work / 'my_midime_from_a_path' / 'midime.json')
