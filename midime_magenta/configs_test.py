"""Tests for configs: the registered MidiMe configs and MusicVAE lookup."""

import json
import os

import pytest

from midime_magenta import configs
from midime_magenta import errors
from midime_magenta import midime_hparams
from midime_testing import testdata_lib

REQUIRED = ['cat-mel_2bar_small', 'cat-mel_2bar_big', 'hierdec-mel_16bar',
            'hierdec-trio_16bar', 'cat-drums_2bar_small',
            'nade-drums_2bar_full']


def test_every_required_config_is_registered_under_its_music_vae_name():
  for name in REQUIRED:
    config = configs.CONFIG_MAP[name]
    assert config.music_vae_config == name


@pytest.mark.parametrize('name', sorted(configs.CONFIG_MAP))
def test_registered_config_builds(name):
  config = configs.CONFIG_MAP[name]
  music_vae_config = configs.get_music_vae_config(config.music_vae_config)
  assert music_vae_config.hparams.z_size > 0
  assert config.hparams.latent_size == 4
  expected_epochs = 300 if 'trio' in name else 100
  assert config.hparams.num_epochs == expected_epochs


def test_example_config_files_are_valid_user_configs():
  folder = os.path.join(os.path.dirname(testdata_lib.testdata_dir()),
                        'configs')
  examples = sorted(f for f in os.listdir(folder) if f.endswith('.json'))
  assert examples
  for name in examples:
    config = configs.get_config(os.path.join(folder, name))
    assert config.name == name[:-len('.json')]
    assert config.music_vae_config in configs.CONFIG_MAP


def test_resolve_hparams_applies_flags_last_wins():
  config = configs.resolve_hparams(configs.CONFIG_MAP['cat-mel_2bar_small'],
                                   num_epochs=7, latent_size=6,
                                   hparams='latent_size=8')
  assert (config.hparams.num_epochs, config.hparams.latent_size) == (7, 8)
  assert configs.CONFIG_MAP['cat-mel_2bar_small'].hparams.latent_size == 4
  with pytest.raises(configs.ConfigError, match='Bad hyperparameters'):
    configs.resolve_hparams(config, hparams='encoder_layers=[99999999]')


def test_get_music_vae_config_returns_a_private_copy():
  a = configs.get_music_vae_config('cat-mel_2bar_small')
  a.data_converter.max_tensors_per_notesequence = None
  b = configs.get_music_vae_config('cat-mel_2bar_small')
  assert b.data_converter.max_tensors_per_notesequence == 5


def test_unknown_config_lists_the_known_ones():
  with pytest.raises(configs.ConfigError,
                     match='Unknown config "mel_2bar".*cat-mel_2bar_small'):
    configs.get_config('mel_2bar')
  with pytest.raises(configs.ConfigError, match='Unknown MusicVAE config'):
    configs.get_music_vae_config('nope')


def test_user_config_file(tmp_path):
  path = tmp_path / 'mine.json'
  path.write_text(json.dumps({
      'name': 'mine', 'music_vae_config': 'cat-mel_2bar_small',
      'hparams': {'latent_size': 8, 'num_epochs': 20}}))
  config = configs.get_config(str(path))
  assert config.hparams.latent_size == 8
  assert config.hparams.encoder_layers == (1024, 256, 64)


@pytest.mark.parametrize('content, message', [
    ('{not json', 'not readable JSON'),
    ('[1, 2]', 'must hold a JSON object'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", "extra": 1}',
     'unknown fields'),
    ('{"name": "x"}', 'missing'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", '
     '"hparams": {"latnt_size": 3}}', 'unknown hparams'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", '
     '"hparams": {"latent_size": 0}}',
     'latent_size must be a whole number from 1 to 512'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", '
     '"hparams": {"latent_size": 2.5}}', 'must be a whole number'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", '
     '"hparams": {"encoder_layers": "wide"}}', 'list of at most'),
    ('{"name": "x", "music_vae_config": "cat-mel_2bar_small", '
     '"hparams": []}', 'hparams must be an object'),
    ('{"name": "../../escape", "music_vae_config": "cat-mel_2bar_small"}',
     'may hold only letters'),
    ('{"name": 3, "music_vae_config": "cat-mel_2bar_small"}',
     'name must be a string'),
    ('[' * 100000 + ']' * 100000, 'larger than a config'),
    ('[' * 30000 + ']' * 30000, 'not readable JSON'),
    ('{"name": "x", "music_vae_config": "no-such-vae"}',
     'Unknown MusicVAE config'),
])
def test_bad_user_config_file_is_refused(tmp_path, content, message):
  path = tmp_path / 'bad.json'
  path.write_text(content)
  with pytest.raises(configs.ConfigError, match=message):
    configs.get_config(str(path))


def test_hparams_parse_magenta_syntax():
  hparams = midime_hparams.HParams().parse(
      'latent_size=8, beta=0.5,encoder_layers=[512,64],decoder_layers=[32]')
  assert (hparams.latent_size, hparams.beta, hparams.encoder_layers,
          hparams.decoder_layers) == (8, 0.5, (512, 64), (32,))
  with pytest.raises(ValueError, match='lists of integers as'):
    midime_hparams.HParams().parse('encoder_layers=512:64')
  with pytest.raises(ValueError, match='cannot parse hparam'):
    midime_hparams.HParams().parse('nope=1')
  with pytest.raises(ValueError, match="'latent_size' of type 'int'"):
    midime_hparams.HParams().parse('latent_size=four')


def test_missing_config_file():
  with pytest.raises(configs.ConfigError, match='does not exist'):
    configs.get_config(os.path.join('no', 'such.json'))


def test_config_map_holds_the_official_configs_and_never_changes(tmp_path):
  from midime_magenta.checkpoints import checkpoint_lib
  from midime_testing import tfjs_testdata_lib
  before = dict(configs.CONFIG_MAP)
  assert not [n for n in before if n.startswith('tiny-')]
  with pytest.raises(TypeError):
    configs.CONFIG_MAP['mine'] = before['cat-mel_2bar_small']  # pytype: disable=unsupported-operands
  folder = tmp_path / 'trio_4bar'
  tfjs_testdata_lib.make_checkpoint(str(folder), 'trio_4bar')
  resolved = checkpoint_lib.resolve_checkpoint(str(folder))
  # A checkpoint's own config is returned, not registered.
  assert resolved.midime_config.music_vae_config == 'trio_4bar'
  assert resolved.midime_config.music_vae is not None
  assert dict(configs.CONFIG_MAP) == before
  with pytest.raises(configs.ConfigError):
    configs.get_config('trio_4bar')
  with pytest.raises(configs.ConfigError):
    configs.get_music_vae_config('trio_4bar')


def test_a_config_file_can_resize_its_musicvae(tmp_path):
  tiny = configs.get_config(testdata_lib.tiny_config('tiny-trio_16bar'))
  assert tiny.name == tiny.music_vae_config == 'tiny-trio_16bar'
  assert tiny.hparams.num_epochs == 300
  music_vae = configs.get_music_vae_config(tiny)
  assert (music_vae.hparams.z_size, music_vae.hparams.enc_rnn_size) == (32, [64])
  # The official config it came from is untouched.
  assert configs.get_music_vae_config(
      'hierdec-trio_16bar').hparams.z_size == 512
  for bad in ({'z_size': '32'}, {'no_such_hparam': 1}, [],
              {'enc_rnn_size': [0]}):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'name': 'x', 'music_vae_config':
                                'cat-mel_2bar_small',
                                'music_vae_hparams': bad}))
    with pytest.raises(configs.ConfigError, match='music_vae_hparams'):
      configs.get_config(str(path))


@pytest.mark.parametrize('field, value', [
    ('beta', 10**400), ('learning_rate', -(10**400)), ('beta', float('nan'))],
                         ids=['huge_int', 'huge_negative_int', 'nan'])
def test_hparams_out_of_any_float_range_get_one_sentence(field, value):
  with pytest.raises(errors.UsageError, match=f'{field} must be a number'):
    midime_hparams.HParams(**{field: value})
