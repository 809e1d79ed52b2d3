"""The contract of 0.1.0 that 0.2.0 keeps: old runs and encodings load, every
flag name and default still works, and every public name resolves.

`testdata/golden/` was written by midime_magenta 0.1.0 (commit 64c08d8) and
is never regenerated (see its README): a change that cannot read it breaks
the models users have trained.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import midime_magenta
from midime_testing import testdata_lib

GOLDEN = testdata_lib.testdata_path('golden')
SCRIPTS = ('midime_train', 'midime_generate', 'midime_evaluate',
           'midime_constrain', 'midime_encode', 'midime_checkpoints')
# Flags whose default changed on purpose, with the release note's reason.
CHANGED_DEFAULTS = {
    # 0.2.0: 128 encodes faster than 256 on 2 cores (encoded_lib).
    **{(script, name): 128 for script in ('midime_train', 'midime_encode')
       for name in ('max_batch_size', 'encode_batch_size', 'batch_size')},
}


def test_a_run_written_by_0_1_0_loads_with_its_extras(mel_2bar_small):
  from midime_magenta import personalizer
  p = personalizer.Personalizer.load(
      os.path.join(GOLDEN, 'run_v2'), mel_2bar_small.checkpoint)
  assert p.midime.hparams.encoder_layers == (64,)
  assert p.training_data.z.shape == (15, 256)
  assert all(s.endswith('reel_4-4.mid') for s in p.training_data.sources)
  assert p.training_data.starts[:3] == [0.0, 2.0, 4.0]
  # The weights mean what they meant: the same small latents, to float32.
  np.testing.assert_allclose(
      p.midime.encode(p.training_data.z),
      np.load(os.path.join(GOLDEN, 'run_v2_expected_mu.npy')), atol=1e-6)
  assert p.attributes is not None and 'note_density' in p.attributes.names
  assert p.constraint is not None and p.constraint.specs == ['key:C']
  sample = p.sample(2, seed=0)
  assert len(sample) == 2 and all(ns.notes for ns in sample)


def test_an_encoding_written_by_0_1_0_loads(mel_2bar_small):
  from midime_magenta import chunking_lib
  from midime_magenta.encoding import encoded_lib
  from midime_magenta import midi_io
  data, manifest = encoded_lib.load_training_data(
      os.path.join(GOLDEN, 'encoded_v1'), {
          'config': 'cat-mel_2bar_small', 'z_size': 256,
          'fingerprint': mel_2bar_small.fingerprint})
  assert manifest['chunks'] == 30 and data.z.shape == (30, 256)
  names = [os.path.basename(s) for s in data.sources]
  assert names == sorted(names) and names.count('reel_4-4.mid') == 15
  # The stored mu are the reel's chunks as MusicVAE encodes them, in order.
  # 0.1.0 cut a window every bar (hop_bars=1 now) in seconds, and lost a
  # note that starts on a window's first step when its time, read from MIDI
  # ticks, lay a hair before the bar line; windows are now cut on the
  # quantized steps. The first window has no such note: it must agree.
  chunked = chunking_lib.chunk_note_sequence(
      midi_io.read_midi_file(testdata_lib.testdata_path('reel_4-4.mid')),
      mel_2bar_small.config, hop_bars=1)
  rows = [i for i, n in enumerate(names) if n == 'reel_4-4.mid']
  np.testing.assert_allclose(
      data.z[rows[:1]], mel_2bar_small.encode_tensors(
          chunked.inputs[:1], chunked.lengths[:1], progress=False), atol=2e-4)


def _flag_defaults(script):
  """{flag or alias name: default} of a script, defined in a fresh process."""
  code = (
      'import importlib, json, sys\n'
      'from absl import flags\n'
      'before = set(flags.FLAGS)\n'
      f'importlib.import_module("midime_magenta.{script}").define_flags()\n'
      'fv = flags.FLAGS\n'
      'print(json.dumps({n: fv[n].default for n in set(fv) - before}, '
      'default=str))\n')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True, timeout=120).stdout
  return json.loads(out)


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_0_1_0_flag_name_and_default_still_works(script):
  with open(os.path.join(GOLDEN, 'flags_0.1.0.json'), encoding='utf-8') as f:
    old = json.load(f)[script]
  now = _flag_defaults(script)
  for name, default in old.items():
    assert name in now, f'{script} lost --{name}'
    expected = CHANGED_DEFAULTS.get((script, name), default)
    assert now[name] == expected, (script, name, now[name], default)


def test_every_public_name_resolves_and_is_documented():
  with open(os.path.join(testdata_lib.ROOT, 'docs', 'python_api.md'),
            encoding='utf-8') as f:
    api_doc = f.read()
  assert sorted(dir(midime_magenta)) == sorted(
      set(midime_magenta.__all__) | {
          n for n in vars(midime_magenta) if n.startswith('_')})
  for name in midime_magenta.__all__:
    value = getattr(midime_magenta, name)
    assert value is not None, name
    if callable(value):
      assert (value.__doc__ or '').strip(), f'{name} has no docstring'
    assert f'`{name}' in api_doc, f'{name} is not in docs/python_api.md'


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_shows_the_examples_and_every_flag(script):
  with open(os.path.join(GOLDEN, 'flags_0.1.0.json'), encoding='utf-8') as f:
    names = [n for n in json.load(f)[script] if n not in (
        'encode_batch_size', 'batch_size')]  # Aliases of --max_batch_size.
  result = testdata_lib.run_installed_script(script, '--help')
  assert result.returncode == 0, result.stderr
  assert 'Example' in result.stdout or 'example' in result.stdout
  for name in names:
    assert re.search(rf'--(\[no\])?{name}\b', result.stdout), (script, name)
  # Example commands continued with a backslash show it (a docstring that is
  # not raw would join their lines).
  with open(os.path.join(testdata_lib.ROOT, 'midime_magenta', f'{script}.py'),
            encoding='utf-8') as f:
    if '\\\n' in f.read().split('"""')[1]:
      assert '\\\n' in result.stdout, script


@pytest.mark.parametrize('module, door', [
    ('constraints_lib', 'steering'), ('checkpoint_lib', 'checkpoints'),
    ('encoded_lib', 'encoding'), ('rules_lib', 'steering')])
def test_a_module_moved_into_a_wing_still_imports_with_a_warning(module,
                                                                 door):
  import importlib  # pylint: disable=g-import-not-at-top
  package = importlib.import_module('midime_magenta')
  with pytest.warns(DeprecationWarning, match=f'midime_magenta.{door}'):
    moved = getattr(package, module)
  assert moved is importlib.import_module(f'midime_magenta.{door}.{module}')


def test_each_wing_door_names_only_what_resolves():
  import importlib.util  # pylint: disable=g-import-not-at-top
  extras = {m for m in ('apache_beam', 'gradio')
            if importlib.util.find_spec(m) is None}  # Not installed here.
  for door in ('checkpoints', 'steering', 'encoding', 'studio'):
    wing = importlib.import_module(f'midime_magenta.{door}')
    assert wing.__all__, door
    for name in wing.__all__:
      try:
        assert getattr(wing, name) is not None, (door, name)
      except ModuleNotFoundError as e:
        assert e.name.split('.')[0] in extras, (door, name, e)
