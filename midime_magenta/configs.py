"""The registered MidiMe configs, in one `CONFIG_MAP`, and the MusicVAE configs.

As in magenta's `music_vae/configs.py`, every registered config is a Python
object in `CONFIG_MAP`, keyed by a descriptive name: here the name of the
MusicVAE config it personalizes, so that `--config=cat-mel_2bar_small` means
the same thing to `midime_train` as to `music_vae_generate`. Configs are
immutable; `MidiMeConfig.replace` derives a changed one.

A user may also pass the path of a JSON file of their own with the same
fields (`read_config_file`; JSON, so reading a config never runs code). The
top-level `configs/` folder holds examples of such files; the registered
configs live only here, so they ship in every install mode (a wheel, a PEP 660
editable install, the legacy `setup.py develop` of older pip) with nothing
to locate at run time.

The `tiny-*` MusicVAE configs are ours: the same model families as the
official configs at a z of 32, with checkpoints built by
`bin/make_tiny_checkpoints` into `testdata/`, so that tests and the offline
demo run in seconds.
"""

import copy
import dataclasses
import functools
import json
import os
import re

from magenta.common import merge_hparams
from magenta.contrib import training as contrib_training
from magenta.models.music_vae import configs as music_vae_configs
from magenta.models.music_vae import lstm_models
from magenta.models.music_vae.base_model import MusicVAE

from midime_magenta import errors
from midime_magenta import midime_hparams

_MAX_CONFIG_BYTES = 1 << 16


class ConfigError(errors.MidiMeError):
  """An unknown config name, or a config file that cannot be used."""


def _tiny_music_vae_configs():
  """MusicVAE configs shaped like the official ones, but with z = 32."""
  hparams = lambda **kw: merge_hparams(  # pylint: disable=g-long-lambda
      lstm_models.get_default_hparams(), contrib_training.HParams(**kw))
  official = music_vae_configs.CONFIG_MAP
  tiny = {}
  tiny['tiny-mel_2bar'] = music_vae_configs.Config(
      model=MusicVAE(lstm_models.BidirectionalLstmEncoder(),
                     lstm_models.CategoricalLstmDecoder()),
      hparams=hparams(batch_size=64, max_seq_len=32, z_size=32,
                      enc_rnn_size=[64], dec_rnn_size=[64, 64], free_bits=0,
                      max_beta=0.2),
      note_sequence_augmenter=None,
      data_converter=copy.deepcopy(
          official['cat-mel_2bar_small'].data_converter))
  tiny['tiny-drums_2bar'] = music_vae_configs.Config(
      model=MusicVAE(lstm_models.BidirectionalLstmEncoder(),
                     lstm_models.CategoricalLstmDecoder()),
      hparams=hparams(batch_size=64, max_seq_len=32, z_size=32,
                      enc_rnn_size=[64], dec_rnn_size=[64, 64], free_bits=48,
                      max_beta=0.2),
      note_sequence_augmenter=None,
      data_converter=copy.deepcopy(
          official['cat-drums_2bar_small'].data_converter))
  tiny['tiny-trio_16bar'] = music_vae_configs.Config(
      model=MusicVAE(
          lstm_models.BidirectionalLstmEncoder(),
          lstm_models.HierarchicalLstmDecoder(
              lstm_models.SplitMultiOutLstmDecoder(
                  core_decoders=[lstm_models.CategoricalLstmDecoder()
                                 for _ in range(3)],
                  output_depths=[90, 90, 512]),
              level_lengths=[16, 16],
              disable_autoregression=True)),
      hparams=hparams(batch_size=64, max_seq_len=256, z_size=32,
                      enc_rnn_size=[64], dec_rnn_size=[64], free_bits=0,
                      max_beta=0.2),
      note_sequence_augmenter=None,
      data_converter=copy.deepcopy(
          official['hierdec-trio_16bar'].data_converter))
  return tiny


@functools.lru_cache(maxsize=None)
def _tiny_configs_cached():
  return _tiny_music_vae_configs()


# MusicVAE configs read from Magenta.js checkpoints in this process
# (checkpoint_lib registers them when it resolves such a checkpoint), and the
# MidiMe config each gets.
_FROM_CHECKPOINTS = {}
_MIDIME_FROM_CHECKPOINTS = {}


def register_music_vae_config(name, music_vae_config, is_trio=False):
  """Registers the MusicVAE config a checkpoint carries; returns its name.

  Also registers a MidiMe config of the same name with the default
  hyperparameters (300 epochs for trios, as the demo). A name already taken
  by magenta's or our registered configs gets a `js-` prefix.
  """
  if name in music_vae_configs.CONFIG_MAP or name in CONFIG_MAP or (
      name in _tiny_configs_cached()):
    name = 'js-' + name
  _FROM_CHECKPOINTS[name] = music_vae_config
  _MIDIME_FROM_CHECKPOINTS[name] = MidiMeConfig(
      name=name, music_vae_config=name,
      hparams=midime_hparams.HParams(
          **({'num_epochs': _TRIO_EPOCHS} if is_trio else {})),
      description='Read from the Magenta.js checkpoint ' + name + '.',
      official_checkpoint=name)
  return name


def music_vae_config_names():
  """Names of every MusicVAE config we can load: magenta's, ours, and those
  read from checkpoints in this process."""
  return sorted(list(music_vae_configs.CONFIG_MAP) +
                list(_tiny_configs_cached()) + list(_FROM_CHECKPOINTS))


def get_music_vae_config(name):
  """Returns a deep copy of the named MusicVAE config.

  A copy, because magenta's scripts mutate shared `CONFIG_MAP` entries and we
  change converter settings (the chunk cap) per use.

  Raises:
    ConfigError: if no MusicVAE config has that name.
  """
  if name in music_vae_configs.CONFIG_MAP:
    return copy.deepcopy(music_vae_configs.CONFIG_MAP[name])
  if name in _tiny_configs_cached():
    return copy.deepcopy(_tiny_configs_cached()[name])
  if name in _FROM_CHECKPOINTS:
    return copy.deepcopy(_FROM_CHECKPOINTS[name])
  raise ConfigError(
      f'Unknown MusicVAE config "{name}"; known configs: '
      f'{", ".join(music_vae_config_names())}.')


def chunk_steps(music_vae_config):
  """Steps in one chunk of the config (32 for 2 bars, 256 for 16 bars)."""
  return music_vae_config.hparams.max_seq_len


@dataclasses.dataclass(frozen=True)
class MidiMeConfig:
  """One registered MidiMe config.

  Attributes:
    name: the registered name (the MusicVAE config's own name).
    music_vae_config: name of the MusicVAE config it sits on.
    hparams: the MidiMe hyperparameters (`midime_hparams.HParams`).
    description: one line for `--help` and listings.
    official_checkpoint: name of the official checkpoint for this config, or
      None when there is none (tiny test configs).
    path: the file it was read from.
  """
  name: str
  music_vae_config: str
  hparams: midime_hparams.HParams
  description: str = ''
  official_checkpoint: str | None = None
  path: str = ''

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


_SAFE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,99}')
_CONFIG_FIELDS = {'name', 'music_vae_config', 'hparams', 'description',
                  'official_checkpoint'}


def read_config_file(path):
  """Reads one MidiMe config JSON file.

  Raises:
    ConfigError: if the file is missing, is not JSON, or has unknown or
      missing fields.
  """
  try:
    if os.path.getsize(path) > _MAX_CONFIG_BYTES:
      raise ConfigError(f'Config file {path} is larger than a config can be '
                        f'({_MAX_CONFIG_BYTES // 1024} KiB); pass a MidiMe '
                        'config file.')
    with open(path, encoding='utf-8') as f:
      raw = json.load(f)
  except FileNotFoundError:
    raise ConfigError(f'Config file {path} does not exist.') from None
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    raise ConfigError(
        f'Config file {path} is not readable JSON ({e}).') from None
  if not isinstance(raw, dict):
    raise ConfigError(f'Config file {path} must hold a JSON object.')
  unknown = sorted(set(raw) - _CONFIG_FIELDS)
  if unknown:
    raise ConfigError(
        f'Config file {path} has unknown fields {unknown}; allowed: '
        f'{sorted(_CONFIG_FIELDS)}.')
  missing = [k for k in ('name', 'music_vae_config') if k not in raw]
  if missing:
    raise ConfigError(f'Config file {path} is missing {missing}.')
  for key in ('name', 'music_vae_config', 'description'):
    if key in raw and not isinstance(raw[key], str):
      raise ConfigError(f'Config file {path}: {key} must be a string.')
  if not _SAFE_NAME.fullmatch(raw['name']):
    raise ConfigError(
        f'Config file {path}: name {raw["name"]!r} may hold only letters, '
        'digits, ".", "_" and "-" (it becomes part of file names).')
  if not isinstance(raw.get('official_checkpoint', ''), (str, type(None))):
    raise ConfigError(f'Config file {path}: official_checkpoint must be a '
                      'string.')
  if not isinstance(raw.get('hparams', {}), dict):
    raise ConfigError(f'Config file {path}: hparams must be an object.')
  try:
    hparams = midime_hparams.HParams.from_dict(raw.get('hparams', {}))
  except (ValueError, TypeError) as e:
    raise ConfigError(f'Config file {path}: {e}') from None
  return MidiMeConfig(
      name=raw['name'], music_vae_config=raw['music_vae_config'],
      hparams=hparams, description=raw.get('description', ''),
      official_checkpoint=raw.get('official_checkpoint'), path=str(path))


_TRIO_EPOCHS = 300  # The MidiMe demo trained trios longer than melodies.


def _registered(name, description, official_checkpoint=None, **hparams):
  return MidiMeConfig(name=name, music_vae_config=name,
                      hparams=midime_hparams.HParams(**hparams),
                      description=description,
                      official_checkpoint=official_checkpoint)


CONFIG_MAP = {config.name: config for config in (
    _registered('cat-mel_2bar_small', '2-bar melodies on the small official '
                'MusicVAE (z=256); the MidiMe demo\'s model.',
                'mel_2bar_small'),
    _registered('cat-mel_2bar_big', '2-bar melodies on the big official '
                'MusicVAE (z=512).', 'cat-mel_2bar_big'),
    _registered('hierdec-mel_16bar', '16-bar melodies on the hierarchical '
                'official MusicVAE (z=512).', 'hierdec-mel_16bar'),
    _registered('hierdec-trio_16bar', '16-bar trios (melody, bass, drums) on '
                'the official MusicVAE (z=512); 300 epochs as in the demo.',
                'hierdec-trio_16bar', num_epochs=_TRIO_EPOCHS),
    _registered('cat-drums_2bar_small', '2-bar drum loops on the small '
                'official drum MusicVAE (z=256).', 'cat-drums_2bar_small'),
    _registered('nade-drums_2bar_reduced', '2-bar drum loops (9 classes) on '
                'the official NADE drum MusicVAE (z=256).',
                'nade-drums_2bar_reduced'),
    _registered('nade-drums_2bar_full', '2-bar drum loops (61 classes) on '
                'the official NADE drum MusicVAE (z=256).',
                'nade-drums_2bar_full'),
    _registered('tiny-mel_2bar', 'Test only: 2-bar melodies on the bundled '
                'tiny MusicVAE (z=32).'),
    _registered('tiny-drums_2bar', 'Test only: 2-bar drums on the bundled '
                'tiny MusicVAE (z=32).'),
    _registered('tiny-trio_16bar', 'Test only: 16-bar trios on the bundled '
                'tiny MusicVAE (z=32).', num_epochs=_TRIO_EPOCHS),
)}


def resolve_hparams(config, num_epochs=None, latent_size=None, beta=None,
                    hparams=''):
  """The config with flag overrides applied to its hparams (--hparams last).

  Returns:
    A new `MidiMeConfig`.

  Raises:
    ConfigError: for unknown names or bad values.
  """
  changes = {k: v for k, v in (('num_epochs', num_epochs),
                               ('latent_size', latent_size), ('beta', beta))
             if v is not None}
  try:
    result = dataclasses.replace(config.hparams, **changes)
    result = result.parse(hparams) if hparams else result
  except (ValueError, TypeError) as e:
    raise ConfigError(f'Bad hyperparameters: {e}') from None
  return config.replace(hparams=result)


def get_config(name_or_path):
  """Returns a registered MidiMe config by name, or reads a config file.

  Raises:
    ConfigError: for an unknown name (the message lists the known ones), or
      a file that cannot be used.
  """
  if name_or_path in CONFIG_MAP:
    return CONFIG_MAP[name_or_path]
  if name_or_path in _MIDIME_FROM_CHECKPOINTS:
    return _MIDIME_FROM_CHECKPOINTS[name_or_path]
  if name_or_path.endswith('.json') or os.path.sep in name_or_path:
    config = read_config_file(name_or_path)
    get_music_vae_config(config.music_vae_config)  # Fail early if unknown.
    return config
  raise ConfigError(
      f'Unknown config "{name_or_path}"; registered configs: '
      f'{", ".join(sorted(CONFIG_MAP))} (or pass the path of a .json config '
      'file).')
