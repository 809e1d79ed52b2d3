"""Executes notebooks/midime.ipynb headless against ../shared's checkpoint.

So the notebook cannot rot: every cell must run, in order, without error.
"""

import os
import re
import sys

import nbclient
import nbformat
import pytest

from midime_magenta import notebook_lib
from midime_testing import testdata_lib

NOTEBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        'notebooks', 'midime.ipynb')


def test_notebook_runs_headless(mel_2bar_small_checkpoint, tmp_path,
                                monkeypatch):
  if not os.path.exists(NOTEBOOK):
    pytest.fail(f'{NOTEBOOK} is missing.')
  monkeypatch.setenv('MIDIME_NOTEBOOK_SAVE_DIR', str(tmp_path / 'saved'))
  monkeypatch.setenv('MIDIME_CHECKPOINT', mel_2bar_small_checkpoint)
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      notebook, timeout=600, kernel_name='python3',
      resources={'metadata': {'path': str(tmp_path)}})
  client.execute()
  code_cells = [cell for cell in notebook.cells if cell.cell_type == 'code']
  outputs = [o for cell in code_cells for o in cell.get('outputs', [])]
  # The install and import cells print nothing: no library warnings, no
  # native log lines (startup_lib), so a newcomer's first cells look right.
  for cell in code_cells[:2]:
    assert not cell.get('outputs'), (cell.source, cell.outputs)
  assert not [o for o in outputs if o.get('output_type') == 'error']
  images = [o for o in outputs if 'image/png' in o.get('data', {})]
  audio = [o for o in outputs if 'text/html' in o.get('data', {}) and
           '<audio' in o['data']['text/html']]
  assert len(images) >= 6 and len(audio) >= 4
  assert os.path.exists(tmp_path / 'saved' / 'midime.json')
  # The steering section ran: attribute rolls before/after, the rule
  # constraint's table, and both saved with the model.
  streams = ' '.join(o.get('text', '') for o in outputs
                     if o.get('output_type') == 'stream')
  assert 'Rule constraint key:C' in streams and 'obey after' in streams
  # The studio section started the page (on this machine only) and closed it.
  assert 'MidiMe Studio is serving at http://127.0.0.1:' in streams
  saved = sorted(os.listdir(tmp_path / 'saved'))
  assert any(n.startswith('attributes-') for n in saved), saved
  assert any(n.startswith('constraint-') for n in saved), saved
  # Progress shows in the notebook: tqdm's widget bar for encoding and
  # training, not log lines.
  bars = [o for o in outputs
          if 'application/vnd.jupyter.widget-view+json' in o.get('data', {})]
  assert len(bars) >= 2, [o.get('output_type') for o in outputs]
  texts = ' '.join(str(o.get('data', {}).get('text/plain', '')) for o in bars)
  assert 'Training MidiMe' in texts and 'Encoding chunks' in texts, texts


def test_helpers_outside_colab():
  assert not notebook_lib.in_colab()
  assert notebook_lib.pick_midi().endswith('reel_4-4.mid')
  assert notebook_lib.default_checkpoint()


@pytest.fixture
def in_colab(tmp_path, monkeypatch):
  """A stand-in for Colab's `google.colab` (a namespace package of the
  test's own), with `files.upload` returning a real tune's bytes."""
  package = tmp_path / 'colab_stub' / 'google' / 'colab'
  package.mkdir(parents=True)
  (package / '__init__.py').write_text('')
  tune = open(testdata_lib.testdata_path('reel_4-4.mid'), 'rb').read()
  (package / 'files.py').write_text(
      f'def upload():\n  return {{"my tune.mid": {tune!r}}}\n')
  monkeypatch.syspath_prepend(str(tmp_path / 'colab_stub'))
  for name in [n for n in sys.modules if n.startswith('google.colab')]:
    monkeypatch.delitem(sys.modules, name)
  work = tmp_path / 'content'
  work.mkdir()
  monkeypatch.chdir(work)
  assert notebook_lib.in_colab()
  return work


def test_upload_branch_in_colab(in_colab):
  path = notebook_lib.pick_midi()
  assert path == str(in_colab / 'my tune.mid')
  assert open(path, 'rb').read() == open(
      testdata_lib.testdata_path('reel_4-4.mid'), 'rb').read()


def test_sliders_are_ipywidgets_whose_callback_decodes(in_colab,
                                                        mel_2bar_small,
                                                        capsys):
  import ipywidgets  # pylint: disable=g-import-not-at-top
  import note_seq  # pylint: disable=g-import-not-at-top
  from midime_magenta import personalizer as personalizer_lib  # pylint: disable=g-import-not-at-top
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  p.train(testdata_lib.testdata_path('reel_4-4.mid'), epochs=100, seed=0,
          progress=False)
  result = notebook_lib.sliders(p, temperature=0.1)
  widget = result.widget
  sliders = [c for c in widget.children
             if isinstance(c, ipywidgets.FloatSlider)]
  assert [s.description for s in sliders] == ['dim1', 'dim2', 'dim3',
                                              'dim4']
  assert (sliders[0].min, sliders[0].max) == (-3, 3)
  sliders[2].value = 2.5
  widget.update()  # What the "Run Interact" button does.
  ns = widget.result
  assert isinstance(ns, note_seq.NoteSequence) and ns.notes
  out = capsys.readouterr().out
  assert 'IPython.lib.display.Audio' in out, out[-500:]  # Heard, too.


def _readme():
  with open(os.path.join(os.path.dirname(NOTEBOOK), '..', 'README.md'),
            encoding='utf-8') as f:
    return f.read()


def test_the_notebook_installs_with_the_readmes_cell_and_opens_in_colab():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  code = [c.source for c in notebook.cells if c.cell_type == 'code']
  readme = _readme()
  cell = re.search(r'<!-- colab-install-cell -->\n```python\n(.*?)```', readme,
                   re.S).group(1)
  assert code[0].strip() == cell.strip()  # bin/make_colab_env runs this one.
  assert 'fluidsynth fluid-soundfont-gm' in code[0]  # Audio first.
  assert 'pip wheel --no-deps -w dist .' in readme
  for text in (readme, notebook.cells[0].source):
    assert 'colab-badge.svg' in text
    assert 'https://colab.research.google.com/github/' in text
    assert 'notebooks/midime.ipynb' in text
  # Only the public API: no converters, no model internals.
  for internal in ('data_converter', 'from_tensors', '.midime', 'MidiMe(',
                   'midime_model', '_lib import', 'tempfile'):
    assert not [c for c in code if internal in c], internal


def test_saving_goes_to_drive_when_mounted_else_a_folder_said(
    tmp_path, monkeypatch, capsys):
  monkeypatch.delenv('MIDIME_NOTEBOOK_SAVE_DIR', raising=False)
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(notebook_lib, 'DRIVE', str(tmp_path / 'MyDrive'))
  local = notebook_lib.save_folder('tune')
  assert local.startswith(str(tmp_path / 'midime_runs' / 'tune_'))
  assert 'Google Drive is not mounted' in capsys.readouterr().out
  (tmp_path / 'MyDrive').mkdir()
  drive = notebook_lib.save_folder('tune')
  assert drive.startswith(str(tmp_path / 'MyDrive' / 'midime' / 'tune_'))
  assert 'Saving to Google Drive' in capsys.readouterr().out
