"""Magenta.js checkpoints of every family: read, checked, converted, used.

The checkpoints are built by `tfjs_testdata_lib` in the official layout
(names from the magenta-js loader, 4 MiB shards, 1- and 2-byte
quantization); real weights cannot be downloaded here.
"""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from midime_magenta.steering import attributes_lib
from midime_magenta.checkpoints import checkpoint_lib
from midime_magenta import configs
from midime_magenta.steering import rules_lib
from midime_magenta import music_vae_lib
from midime_magenta import personalizer as personalizer_lib
from midime_testing import testdata_lib
from midime_magenta.checkpoints import tfjs_checkpoint_lib
from midime_magenta.checkpoints import tfjs_config_lib
from midime_testing import tfjs_testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')
DRUMS = testdata_lib.testdata_path('drums_only.mid')


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
  monkeypatch.setenv('MIDIME_MAGENTA_CACHE', str(tmp_path / 'cache'))


def _write_manifest(folder, weights, blob):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, 'weights_manifest.json'), 'w') as f:
    json.dump([{'paths': ['group1-shard1of1'], 'weights': weights}], f)
  with open(os.path.join(folder, 'group1-shard1of1'), 'wb') as f:
    f.write(blob)


def test_dequantization_matches_hand_computed_values(tmp_path):
  folder = str(tmp_path / 'q')
  weights = [
      {'name': 'a', 'shape': [3], 'dtype': 'float32',
       'quantization': {'dtype': 'uint8', 'min': -1.0, 'scale': 0.5}},
      {'name': 'b', 'shape': [2], 'dtype': 'float32',
       'quantization': {'dtype': 'uint16', 'min': 2.0, 'scale': 0.25}},
      {'name': 'c', 'shape': [2], 'dtype': 'float32',
       'quantization': {'dtype': 'float16'}},
      {'name': 'd', 'shape': [1], 'dtype': 'float32'},
  ]
  blob = (bytes([0, 4, 255]) + (3).to_bytes(2, 'little') +
          (1000).to_bytes(2, 'little') + np.array([1.5, -0.25], '<f2')
          .tobytes() + np.array([7.0], '<f4').tobytes())
  _write_manifest(folder, weights, blob)
  read = tfjs_checkpoint_lib.read_weights(folder)
  # By hand: q * scale + min.
  np.testing.assert_array_equal(read['a'], [-1.0, 1.0, 126.5])
  np.testing.assert_array_equal(read['b'], [2.75, 252.0])
  np.testing.assert_array_equal(read['c'], [1.5, -0.25])
  np.testing.assert_array_equal(read['d'], [7.0])
  assert all(v.dtype == np.float32 for v in read.values())


@pytest.mark.parametrize('family', sorted(tfjs_testdata_lib.FAMILIES))
def test_every_family_is_read_checked_and_converted(family, tmp_path):
  folder = str(tmp_path / family)
  expected = tfjs_testdata_lib.make_checkpoint(folder, family)
  resolved = checkpoint_lib.resolve_checkpoint(folder)
  # The config was read from config.json and the manifest, and returned.
  carried = resolved.midime_config or resolved.music_vae_config
  config = configs.get_music_vae_config(carried)
  converter, args = tfjs_testdata_lib.FAMILIES[family][:2]
  assert config.hparams.max_seq_len == args['numSteps']
  assert checkpoint_lib.config_variables(carried) == {
      n: list(s) for n, s in tfjs_testdata_lib.family_shapes(family).items()}
  # The TF checkpoint holds exactly the (dequantized) manifest values.
  reader = tf.train.load_checkpoint(resolved.prefix)
  for name, values in expected.items():
    np.testing.assert_array_equal(reader.get_tensor(name), values,
                                  err_msg=name)
  if converter == 'TrioConverter':
    assert resolved.music_vae_config == 'trio_4bar'
    assert resolved.midime_config.hparams.num_epochs == 300


def test_families_that_equal_a_magenta_config_take_its_name(tmp_path):
  names = {}
  for family in ('mel_2bar_small', 'mel_4bar_small_q2', 'drums_2bar_hikl_small',
                 'drums_2bar_nade_9_q2'):
    folder = str(tmp_path / family)
    tfjs_testdata_lib.make_checkpoint(folder, family)
    names[family] = checkpoint_lib.resolve_checkpoint(folder).music_vae_config
  assert names == {
      'mel_2bar_small': 'cat-mel_2bar_small',
      # Same variables as mel_2bar, but 64 steps: a config of its own.
      'mel_4bar_small_q2': 'mel_4bar_small_q2',
      'drums_2bar_hikl_small': 'cat-drums_2bar_small',
      'drums_2bar_nade_9_q2': 'nade-drums_2bar_reduced'}


def test_a_manifest_without_sigma_gets_zeros(tmp_path):
  folder = str(tmp_path / 'mel_2bar_small')
  tfjs_testdata_lib.make_checkpoint(folder, 'mel_2bar_small', drop_sigma=True)
  prefix = checkpoint_lib.resolve_checkpoint(folder).prefix
  reader = tf.train.load_checkpoint(prefix)
  assert not reader.get_tensor('encoder/sigma/kernel').any()


@pytest.mark.parametrize('spec, reason', [
    ({'type': 'MusicVAE', 'dataConverter': {'type': 'MultitrackConverter',
                                            'args': {}}}, 'multitrack'),
    ({'type': 'MusicVAE', 'dataConverter': {'type': 'GrooveConverter',
                                            'args': {}}}, 'GrooVAE'),
    ({'type': 'MusicVAE', 'chordEncoder': 'PitchChordEncoder',
      'dataConverter': {'type': 'MelodyConverter',
                        'args': {'numSteps': 32}}}, 'chord-conditioned'),
    ({'type': 'MusicRNN', 'dataConverter': {'type': 'MelodyConverter',
                                            'args': {}}}, 'not a MusicVAE'),
])
def test_unsupported_kinds_are_refused_with_the_reason(tmp_path, spec,
                                                       reason):
  folder = str(tmp_path / 'other')
  tfjs_testdata_lib.make_checkpoint(folder, 'mel_2bar_small')
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump(spec, f)
  with pytest.raises(checkpoint_lib.CheckpointError, match=reason):
    checkpoint_lib.resolve_checkpoint(folder)


def test_a_manifest_that_disagrees_with_its_config_is_refused(tmp_path):
  folder = str(tmp_path / 'trio_4bar')
  tfjs_testdata_lib.make_checkpoint(folder, 'trio_4bar')
  with open(os.path.join(folder, 'config.json')) as f:
    spec = json.load(f)
  spec['dataConverter']['type'] = 'MelodyConverter'  # Says melody; is trio.
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump(spec, f)
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match='has no decoder at core_decoder/decoder/'):
    checkpoint_lib.resolve_checkpoint(folder)


def test_check_fits_names_the_first_difference():
  manifest = [{'paths': [], 'weights': [
      {'name': 'encoder/mu/bias', 'shape': [256]},
      {'name': 'encoder/mu/kernel', 'shape': [1024, 128]}]}]
  expected = {'encoder/mu/bias': [256], 'encoder/mu/kernel': [1024, 256],
              'encoder/sigma/bias': [256]}
  with pytest.raises(tfjs_checkpoint_lib.TfjsCheckpointError,
                     match=r'encoder/mu/kernel should be \[1024, 256\], it is '
                     r'shape \[1024, 128\]'):
    tfjs_config_lib.check_fits(expected, manifest, 'here')
  expected['encoder/mu/kernel'] = [1024, 128]
  tfjs_config_lib.check_fits(expected, manifest, 'here')  # Sigma optional.
  expected.pop('encoder/mu/bias')
  with pytest.raises(tfjs_checkpoint_lib.TfjsCheckpointError,
                     match='does not have .e.g. encoder/mu/bias'):
    tfjs_config_lib.check_fits(expected, manifest, 'here')


def test_a_config_flag_that_disagrees_is_refused(tmp_path):
  folder = str(tmp_path / 'trio_4bar')
  tfjs_testdata_lib.make_checkpoint(folder, 'trio_4bar')
  with pytest.raises(configs.ConfigError,
                     match='is a trio_4bar MusicVAE .* leave config out') as e:
    music_vae_lib.resolve_config('cat-mel_2bar_small', folder)
  assert '--config=cat-mel_2bar_small is for' in e.value.cli
  config, _ = music_vae_lib.resolve_config(None, folder)
  assert config.name == 'trio_4bar'


@pytest.mark.parametrize('family, midi', [
    ('mel_4bar_small_q2', REEL), ('mel_16bar_small_q2', 'loop'),
    ('drums_4bar_med_q2', 'loop'), ('drums_2bar_nade_9_q2', DRUMS),
])
def test_personalizing_works_on_each_kind(family, midi, tmp_path):
  """Train MidiMe and sample on melody, hierarchical and drum families."""
  folder = str(tmp_path / family)
  tfjs_testdata_lib.make_checkpoint(folder, family)
  if midi == 'loop':  # Long enough for 16-bar chunks, with drums.
    midi = testdata_lib.make_trio_midi(str(tmp_path / 'loop.mid'), bars=18)
  personalizer = personalizer_lib.Personalizer(None, folder, batch_size=8)
  history = personalizer.train(midi, epochs=3, seed=0, progress=False)
  assert len(history['loss']) == 3
  samples = personalizer.sample(2, temperature=1.0, seed=0)
  steps = tfjs_testdata_lib.FAMILIES[family][1]['numSteps']
  assert len(samples) == 2
  assert all(s.total_time <= steps * 0.125 + 1e-3 for s in samples)


def test_the_converted_checkpoint_works_with_music_vae_generate(tmp_path):
  """magenta's own script, given the registered config, samples trios."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path / 'trio_4bar')
  tfjs_testdata_lib.make_checkpoint(folder, 'trio_4bar')
  out = tmp_path / 'out'
  # As the README shows: resolve once, then run magenta's script on its map.
  program = f'''
import sys
from absl import app
import midime_magenta
from midime_magenta import configs, startup_lib
from midime_magenta.checkpoints import checkpoint_lib
startup_lib.import_quietly()
from magenta.models.music_vae import music_vae_generate
resolved = checkpoint_lib.resolve_checkpoint({folder!r})
name = resolved.music_vae_config
config_map = {{name: configs.get_music_vae_config(resolved.midime_config)}}
sys.argv = ['music_vae_generate', '--config=' + name,
            '--checkpoint_file=' + resolved.prefix, '--mode=sample',
            '--num_outputs=2', '--output_dir={out}']
app.run(lambda argv: music_vae_generate.run(config_map))
'''
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, check=False, timeout=600,
                          env=dict(os.environ, MIDIME_MAGENTA_CACHE=str(
                              tmp_path / 'cache')))
  assert result.returncode == 0, result.stderr[-3000:]
  names = sorted(os.listdir(out))
  assert len(names) == 2 and all(n.startswith('trio_4bar_sample_')
                                 for n in names)


@pytest.mark.parametrize('change', [
    lambda spec: spec['dataConverter']['args'].update(melArgs=5),
    lambda spec: spec['dataConverter']['args'].update(numSteps='64'),
    lambda spec: spec['dataConverter']['args'].update(numSteps=60),
    lambda spec: spec['dataConverter'].update(args=[]),
    lambda spec: spec.update(dataConverter=None),
])
def test_a_hostile_config_json_is_one_clear_error(tmp_path, change):
  folder = str(tmp_path / 'trio_4bar')
  tfjs_testdata_lib.make_checkpoint(folder, 'trio_4bar')
  with open(os.path.join(folder, 'config.json')) as f:
    spec = json.load(f)
  change(spec)
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump(spec, f)
  with pytest.raises(checkpoint_lib.CheckpointError, match='config'):
    checkpoint_lib.resolve_checkpoint(folder)


@pytest.mark.parametrize('family, midi, rules', [
    ('drums_2bar_lokl_small', DRUMS, ['density:1-12']),
    ('trio_4bar', 'band', ['key:C', 'density:0-8']),
])
def test_steering_on_drum_and_trio_families(family, midi, rules, tmp_path):
  """Attribute vectors and a rule constraint plumb through, save and load on
  the drum and trio families (random weights: what they do to the music is
  measured on the official melody model, not here). A drum model gets the
  rhythmic attributes only, and no pitch rules."""
  folder = str(tmp_path / family)
  tfjs_testdata_lib.make_checkpoint(folder, family)
  if midi == 'band':
    midi = testdata_lib.make_band_midi(str(tmp_path / 'band.mid'))
  p = personalizer_lib.Personalizer(None, folder, batch_size=32)
  p.train(midi, epochs=3, seed=0, progress=False)
  vectors = p.compute_attribute_vectors(seed=0, draws=64)
  expected = (attributes_lib.DRUM_ATTRIBUTES if family.startswith('drums')
              else attributes_lib.ATTRIBUTES)
  assert set(vectors.names) <= set(expected) and vectors.names
  if family.startswith('drums'):
    with pytest.raises(rules_lib.RuleError, match='drum'):
      p.constrain(['key:C'], draws=8)
  p.constrain(rules, iterations=5, seed=0, draws=32, measure_draws=8)
  p.sample(2, seed=0, attributes={vectors.names[0]: 1.0})
  p.save(str(tmp_path / 'run'))
  loaded = personalizer_lib.Personalizer.load(str(tmp_path / 'run'), folder)
  assert loaded.attributes.names == vectors.names
  assert loaded.constraint.specs == rules
