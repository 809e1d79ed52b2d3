"""The MidiMe configs: an immutable `CONFIG_MAP` keyed by the MusicVAE config
each personalizes (as magenta's `music_vae/configs.py`), or a JSON file."""

import copy
import dataclasses
import os
import types

from magenta.models.music_vae import configs as music_vae_configs

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import midime_hparams

_MAX_CONFIG_BYTES = 1 << 16


class ConfigError(errors.MidiMeError):
  """An unknown config name, or a config file that cannot be used."""


def get_music_vae_config(config):
  """A private deep copy (magenta's scripts mutate theirs) of the MusicVAE
  config of a `MidiMeConfig` or of magenta's name; raises ConfigError."""
  if isinstance(config, MidiMeConfig):
    if config.music_vae is not None:
      return copy.deepcopy(config.music_vae)
    config = config.music_vae_config
  if config in music_vae_configs.CONFIG_MAP:
    return copy.deepcopy(music_vae_configs.CONFIG_MAP[config])
  raise ConfigError(
      f'Unknown MusicVAE config "{config}"; known configs: '
      f'{", ".join(sorted(music_vae_configs.CONFIG_MAP))}.')


@dataclasses.dataclass(frozen=True)
class MidiMeConfig:
  """One MidiMe config; `replace` derives a changed one.

  Attributes:
    name: the registered name (the MusicVAE config's own name).
    music_vae_config: name of the MusicVAE config it sits on.
    hparams: the MidiMe hyperparameters (`midime_hparams.HParams`).
    description: one line for `--help` and listings.
    official_checkpoint: the official checkpoint's name, or None.
    path: the file it was read from.
    music_vae: the MusicVAE `Config` itself when magenta does not register it.
  """
  name: str
  music_vae_config: str
  hparams: midime_hparams.HParams
  description: str = ''
  official_checkpoint: str | None = None
  path: str = ''
  music_vae: object = dataclasses.field(default=None, compare=False,
                                        repr=False)

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


# A config file's fields and their JSON kinds (music_vae_hparams: see below).
_CONFIG_FIELDS = {'name': str, 'music_vae_config': str, 'description': str,
                  'official_checkpoint': (str, type(None)), 'hparams': dict,
                  'music_vae_hparams': object}


def read_config_file(path):
  """Reads one MidiMe config JSON file; raises ConfigError."""
  try:
    raw = file_util.read_json(path, _MAX_CONFIG_BYTES, 'a config')
  except FileNotFoundError:
    raise ConfigError(f'Config file {path} does not exist.') from None
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    raise ConfigError(
        f'Config file {path} is not readable JSON ({e}).') from None
  if not isinstance(raw, dict):
    raise ConfigError(f'Config file {path} must hold a JSON object.')
  if unknown := sorted(set(raw) - set(_CONFIG_FIELDS)):
    raise ConfigError(
        f'Config file {path} has unknown fields {unknown}; allowed: '
        f'{sorted(_CONFIG_FIELDS)}.')
  if missing := [k for k in ('name', 'music_vae_config') if k not in raw]:
    raise ConfigError(f'Config file {path} is missing {missing}.')
  for key, value in raw.items():
    if not isinstance(value, _CONFIG_FIELDS[key]):
      what = 'an object' if _CONFIG_FIELDS[key] is dict else 'a string'
      raise ConfigError(f'Config file {path}: {key} must be {what}.')
  if not file_util.SAFE_NAME.fullmatch(raw['name']):
    raise ConfigError(
        f'Config file {path}: name {raw["name"]!r} may hold only letters, '
        'digits, ".", "_" and "-" (it becomes part of file names).')
  try:
    hparams = midime_hparams.HParams.from_dict(raw.get('hparams', {}))
  except (ValueError, TypeError) as e:
    raise ConfigError(f'Config file {path}: {e}') from None
  config = MidiMeConfig(
      name=raw['name'], music_vae_config=raw['music_vae_config'],
      hparams=hparams, description=raw.get('description', ''),
      official_checkpoint=raw.get('official_checkpoint'), path=str(path))
  if 'music_vae_hparams' in raw:
    config = config.replace(
        music_vae_config=raw['name'], music_vae=_with_music_vae_hparams(
            get_music_vae_config(raw['music_vae_config']),
            raw['music_vae_hparams'], path))
  return config


def _with_music_vae_hparams(music_vae_config, changes, path):
  """A magenta config with some model hparams changed."""
  if not isinstance(changes, dict) or not changes:
    raise ConfigError(f'Config file {path}: music_vae_hparams must be an '
                      'object of MusicVAE hyperparameters.')
  known = music_vae_config.hparams.values()
  for key, value in changes.items():
    if key not in known or type(value) is not type(known[key]) or (
        isinstance(value, list) and not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 8192
            for v in value)):
      raise ConfigError(
          f'Config file {path}: music_vae_hparams.{key} is not a '
          f'{type(known.get(key)).__name__} hyperparameter of '
          f'{music_vae_config.model.__class__.__name__}.')
    setattr(music_vae_config.hparams, key, value)
  return music_vae_config


_TRIO_EPOCHS = 300  # The MidiMe demo trained trios longer than melodies.


def _registered(name, description, official_checkpoint=None, **hparams):
  return MidiMeConfig(name=name, music_vae_config=name,
                      hparams=midime_hparams.HParams(**hparams),
                      description=description,
                      official_checkpoint=official_checkpoint)


CONFIG_MAP = types.MappingProxyType({config.name: config for config in (
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
)})


def derived_config(name, music_vae_config, is_trio=False, description=''):
  """The MidiMe config of a MusicVAE magenta does not register (never
  registered; a name magenta uses gets a `js-` prefix)."""
  if name in music_vae_configs.CONFIG_MAP or name in CONFIG_MAP:
    name = 'js-' + name
  return MidiMeConfig(
      name=name, music_vae_config=name, hparams=midime_hparams.HParams(
          **({'num_epochs': _TRIO_EPOCHS} if is_trio else {})),
      description=description, music_vae=music_vae_config)


def resolve_hparams(config, num_epochs=None, latent_size=None, beta=None,
                    hparams=''):
  """A config with flag overrides applied (--hparams last); raises ConfigError."""
  changes = {k: v for k, v in (('num_epochs', num_epochs),
                               ('latent_size', latent_size), ('beta', beta))
             if v is not None}
  try:
    result = dataclasses.replace(config.hparams, **changes)
    return config.replace(hparams=result.parse(hparams) if hparams else result)
  except (ValueError, TypeError) as e:
    raise ConfigError(f'Bad hyperparameters: {e}') from None


def get_config(name_or_path):
  """A registered MidiMe config by name, or a config file read; raises
  ConfigError."""
  if name_or_path in CONFIG_MAP:
    return CONFIG_MAP[name_or_path]
  if name_or_path.endswith('.json') or os.path.sep in name_or_path:
    config = read_config_file(name_or_path)
    get_music_vae_config(config)  # Fail early if unknown.
    return config
  raise ConfigError(
      f'Unknown config "{name_or_path}"; registered configs: '
      f'{", ".join(sorted(CONFIG_MAP))} (or pass the path of a .json config '
      'file).')
