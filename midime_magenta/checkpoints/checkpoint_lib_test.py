"""Tests for checkpoint_lib: prefix, directory and .tar forms, and checks."""

import io
import os
import shutil
import tarfile

import pytest

from midime_magenta.checkpoints import checkpoint_lib
from midime_magenta import configs
from midime_testing import testdata_lib


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
  monkeypatch.setenv('MIDIME_MAGENTA_CACHE', str(tmp_path / 'cache'))


def _make_tar(prefix, tar_path, arcdir='cat-mel_2bar_small'):
  """Bundles a checkpoint the way Magenta publishes them."""
  with tarfile.open(tar_path, 'w') as tar:
    for suffix in ('.index', '.data-00000-of-00001'):
      tar.add(prefix + suffix,
              arcname=f'{arcdir}/{os.path.basename(prefix)}{suffix}')
  return tar_path


def test_prefix_resolves_to_itself(mel_2bar_small_checkpoint):
  assert checkpoint_lib.resolve_checkpoint(
      mel_2bar_small_checkpoint).prefix == mel_2bar_small_checkpoint


def test_directory_resolves_to_its_checkpoint(mel_2bar_small_checkpoint):
  directory = os.path.dirname(mel_2bar_small_checkpoint)
  prefix = checkpoint_lib.resolve_checkpoint(directory).prefix
  assert os.path.realpath(prefix) == os.path.realpath(mel_2bar_small_checkpoint)


def test_directory_without_state_file_uses_its_only_checkpoint(
    mel_2bar_small_checkpoint, tmp_path):
  for suffix in ('.index', '.data-00000-of-00001'):
    shutil.copy(mel_2bar_small_checkpoint + suffix, tmp_path)
  assert checkpoint_lib.resolve_checkpoint(str(tmp_path)).prefix == str(
      tmp_path / 'model.ckpt')


def test_tar_bundle_is_unpacked_once_into_the_cache(
    mel_2bar_small_checkpoint, tmp_path):
  tar_path = _make_tar(mel_2bar_small_checkpoint, tmp_path / 'bundle.tar')
  first = checkpoint_lib.resolve_checkpoint(str(tar_path)).prefix
  assert first.startswith(str(tmp_path / 'cache'))
  assert os.path.exists(first + '.index')
  mtime = os.path.getmtime(first + '.index')
  assert checkpoint_lib.resolve_checkpoint(str(tar_path)).prefix == first
  assert os.path.getmtime(first + '.index') == mtime


def test_tar_with_path_traversal_is_refused(tmp_path):
  tar_path = tmp_path / 'evil.tar'
  with tarfile.open(tar_path, 'w') as tar:
    info = tarfile.TarInfo('../../escaped.index')
    info.size = 3
    tar.addfile(info, io.BytesIO(b'abc'))
  with pytest.raises(checkpoint_lib.CheckpointError, match='Cannot unpack'):
    checkpoint_lib.resolve_checkpoint(str(tar_path)).prefix
  assert not (tmp_path / 'escaped.index').exists()
  assert not (tmp_path.parent / 'escaped.index').exists()


def test_missing_path_says_what_to_pass(tmp_path):
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match='No MusicVAE checkpoint at .*prefix'):
    checkpoint_lib.resolve_checkpoint(str(tmp_path / 'nothing')).prefix


def test_empty_directory_is_refused(tmp_path):
  with pytest.raises(checkpoint_lib.CheckpointError, match='holds no checkpoint'):
    checkpoint_lib.resolve_checkpoint(str(tmp_path)).prefix


def test_directory_with_several_checkpoints_and_no_state_is_refused(tmp_path):
  source = testdata_lib.tiny_checkpoint('tiny-mel_2bar')
  for step in (100, 200):
    for suffix in ('.index', '.data-00000-of-00001'):
      shutil.copy(os.path.join(source, 'model.ckpt' + suffix),
                  tmp_path / f'model.ckpt-{step}{suffix}')
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match=r'several checkpoints \(model.ckpt-100, '
                     r'model.ckpt-200\)'):
    checkpoint_lib.resolve_checkpoint(str(tmp_path)).prefix


def test_damaged_checkpoint_is_reported(tmp_path):
  (tmp_path / 'model.ckpt.index').write_bytes(b'not an index')
  with pytest.raises(checkpoint_lib.CheckpointError, match='damaged'):
    checkpoint_lib.checkpoint_variables(str(tmp_path / 'model.ckpt'))


def test_official_checkpoint_fits_its_config(mel_2bar_small_checkpoint):
  checkpoint_lib.check_checkpoint_fits_config('cat-mel_2bar_small',
                                              mel_2bar_small_checkpoint)
  assert checkpoint_lib.configs_matching(checkpoint_lib.checkpoint_variables(
      mel_2bar_small_checkpoint))[0] == 'cat-mel_2bar_small'


@pytest.mark.parametrize('wrong_config', [
    'hierdec-mel_16bar', 'cat-mel_2bar_big', 'cat-drums_2bar_small'])
def test_wrong_config_names_the_right_one(mel_2bar_small_checkpoint,
                                          wrong_config):
  with pytest.raises(checkpoint_lib.CheckpointError) as raised:
    checkpoint_lib.check_checkpoint_fits_config(wrong_config,
                                                mel_2bar_small_checkpoint)
  message = str(raised.value)
  assert f'does not fit config {wrong_config}' in message
  assert '--config=cat-mel_2bar_small' in message
  assert '\n' not in message


def test_a_musicvae_of_another_size_fits_only_its_own_config_file():
  prefix = checkpoint_lib.resolve_checkpoint(
      testdata_lib.tiny_checkpoint('tiny-mel_2bar')).prefix
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match='matches no known MusicVAE config'):
    checkpoint_lib.check_checkpoint_fits_config('cat-mel_2bar_small', prefix)
  tiny = configs.get_config(testdata_lib.tiny_config('tiny-mel_2bar'))
  assert tiny.music_vae_config == 'tiny-mel_2bar'
  assert tiny.music_vae.hparams.z_size == 32
  checkpoint_lib.check_checkpoint_fits_config(tiny, prefix)  # Fits.
  assert checkpoint_lib.config_variables(tiny) == {
      k: v for k, v in checkpoint_lib.checkpoint_variables(prefix).items()
      if k in checkpoint_lib.config_variables(tiny)}


def test_fingerprint_is_the_same_for_every_form(mel_2bar_small_checkpoint,
                                                tmp_path):
  tar_path = _make_tar(mel_2bar_small_checkpoint, tmp_path / 'b.tar')
  from_tar = checkpoint_lib.resolve_checkpoint(str(tar_path)).prefix
  fingerprint = checkpoint_lib.checkpoint_fingerprint(mel_2bar_small_checkpoint)
  assert checkpoint_lib.checkpoint_fingerprint(from_tar) == fingerprint
  other = checkpoint_lib.checkpoint_fingerprint(
      testdata_lib.tiny_checkpoint('tiny-mel_2bar') + '/model.ckpt')
  assert other != fingerprint and len(fingerprint) == 16


@pytest.mark.parametrize('name', ['cat-mel_2bar_small',
                                  'cat-drums_2bar_small'])
def test_stored_variables_match_the_built_graph(name):
  built = checkpoint_lib.build_config_variables(
      configs.get_music_vae_config(name))
  assert checkpoint_lib._stored_config_variables()[name] == built  # pylint: disable=protected-access


def test_every_registered_midime_config_has_stored_variables():
  stored = checkpoint_lib._stored_config_variables()  # pylint: disable=protected-access
  for config in configs.CONFIG_MAP.values():
    assert config.music_vae_config in stored, config.name


def test_a_bare_checkpoint_takes_the_one_config_its_variables_fit(
    mel_2bar_small_checkpoint):
  from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
  config, prefix = music_vae_lib.resolve_config(None, mel_2bar_small_checkpoint)
  assert (config.name, prefix) == ('cat-mel_2bar_small',
                                   mel_2bar_small_checkpoint)


def test_a_bare_checkpoint_that_fits_several_or_no_config_names_them(
    monkeypatch):
  tiny = testdata_lib.tiny_checkpoint('tiny-mel_2bar')
  with pytest.raises(configs.ConfigError,
                     match='fit no known MusicVAE config; pass config'):
    checkpoint_lib.config_of_variables(tiny)
  # GrooVAE's 2- and 4-bar configs hold the same variables.
  groove = checkpoint_lib._stored_config_variables()['groovae_4bar']  # pylint: disable=protected-access
  monkeypatch.setattr(checkpoint_lib, 'checkpoint_variables',
                      lambda prefix: groove)
  with pytest.raises(configs.ConfigError) as raised:
    checkpoint_lib.config_of_variables(tiny, 'drums.ckpt')
  assert str(raised.value) == (
      'Checkpoint drums.ckpt does not say which MusicVAE config it is and its '
      'variables fit groovae_2bar_add_closed_hh, groovae_2bar_humanize, '
      'groovae_2bar_tap_fixed_velocity, '
      'groovae_2bar_tap_fixed_velocity_note_dropout and groovae_4bar; pass '
      'config.')
  assert raised.value.cli == str(raised.value).replace('pass config',
                                                       'pass --config')


def test_a_magenta_js_file_replaced_with_its_size_and_mtime_kept_is_a_new_key(
    tmp_path):
  # As `rsync -a` leaves it (written aside, renamed over it): the same size
  # and mtime, other bytes. The conversion must not be reused.
  from midime_magenta.checkpoints import tfjs_checkpoint_lib  # pylint: disable=g-import-not-at-top
  shard = tmp_path / 'group1-shard1of1'
  shard.write_bytes(b'a' * 64)
  stat = os.stat(shard)
  before = tfjs_checkpoint_lib.files_key([shard])
  assert tfjs_checkpoint_lib.files_key([shard]) == before  # Read twice: same.
  (tmp_path / 'aside').write_bytes(b'b' * 64)
  os.utime(tmp_path / 'aside', ns=(stat.st_atime_ns, stat.st_mtime_ns))
  os.replace(tmp_path / 'aside', shard)
  assert os.stat(shard).st_size == stat.st_size
  assert os.stat(shard).st_mtime_ns == stat.st_mtime_ns
  assert tfjs_checkpoint_lib.files_key([shard]) != before
