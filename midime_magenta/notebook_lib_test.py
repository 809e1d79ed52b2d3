"""Executes notebooks/midime.ipynb headless against ../shared's checkpoint.

So the notebook cannot rot: every cell must run, in order, without error.
"""

import os

import nbclient
import nbformat
import pytest

from midime_magenta import notebook_lib
from midime_magenta import testdata_lib

NOTEBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        'notebooks', 'midime.ipynb')


def test_notebook_runs_headless(mel_2bar_small_checkpoint, tmp_path,
                                monkeypatch):
  del mel_2bar_small_checkpoint  # The notebook finds it through ../shared.
  if not os.path.exists(NOTEBOOK):
    pytest.fail(f'{NOTEBOOK} is missing.')
  monkeypatch.setenv('MIDIME_NOTEBOOK_SAVE_DIR', str(tmp_path / 'saved'))
  monkeypatch.setenv('MIDIME_SHARED_DIR', testdata_lib.shared_dir())
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      notebook, timeout=600, kernel_name='python3',
      resources={'metadata': {'path': str(tmp_path)}})
  client.execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == 'code'
             for o in cell.get('outputs', [])]
  assert not [o for o in outputs if o.get('output_type') == 'error']
  images = [o for o in outputs if 'image/png' in o.get('data', {})]
  audio = [o for o in outputs if 'text/html' in o.get('data', {}) and
           '<audio' in o['data']['text/html']]
  assert len(images) >= 6 and len(audio) >= 4
  assert os.path.exists(tmp_path / 'saved' / 'midime.json')
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
