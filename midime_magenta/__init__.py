"""midime_magenta: MidiMe (Dinculescu, Engel & Roberts, 2019) for Magenta's MusicVAE.

A small VAE trained on the MusicVAE latents of a person's own MIDI, so that
sampling it gives music that sounds like theirs, without touching MusicVAE.

Importing this package is cheap: it checks that magenta is installed and sets
the TensorFlow environment, but loads TensorFlow only when a model class is
first used (`midime_magenta.MidiMe`, `midime_magenta.Personalizer`).
"""

import importlib as _importlib
import importlib.util as _importlib_util
import os as _os
import warnings as _warnings

# First, so that spans tell the interpreter's start-up apart from our imports.
from midime_magenta import startup_lib as _startup_lib

# magenta 2.1.4 and our model are written against Keras 2 (tf-keras); set
# before TensorFlow is imported anywhere.
_os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
_os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
_startup_lib.defer_tensorflow_datasets()

_MAGENTA_INSTALL = 'pip install --no-deps magenta==2.1.4'

if _importlib_util.find_spec('magenta') is None:
  raise ImportError(
      'midime_magenta needs magenta 2.1.4, installed without its outdated '
      f'pins: run `{_MAGENTA_INSTALL}`.')

__version__ = '0.2.0'

from midime_magenta.errors import MidiMeError  # pylint: disable=g-import-not-at-top,wrong-import-position

# The public API, each name imported on first use (docs/python_api.md);
# MidiMeHParams is 0.1.0's name for HParams, kept for one release.
_LAZY_ATTRIBUTES = {
    'CONFIG_MAP': 'configs', 'FrozenMusicVAE': 'music_vae_lib',
    'HParams': 'midime_hparams', 'MidiMe': 'midime_model',
    'MidiMeConfig': 'configs', 'MidiMeHParams': 'midime_hparams:HParams',
    'Personalizer': 'personalizer', 'chunk_note_sequence': 'chunking_lib',
    'get_config': 'configs', 'load_music_vae': 'music_vae_lib',
    'load_run': 'run_lib', 'save_run': 'run_lib',
}
_lazy, _ = _startup_lib.front_door(__name__, _LAZY_ATTRIBUTES)
# Modules 0.2.0 moved into the wings, importable with a DeprecationWarning.
_MOVED = {
    **{m: 'checkpoints' for m in ('catalogue_lib', 'checkpoint_lib',
                                  'download_lib', 'tfjs_checkpoint_lib',
                                  'tfjs_config_lib')},
    **{m: 'steering' for m in ('attributes_lib', 'constraints_lib',
                               'rules_lib')},
    **{m: 'encoding' for m in ('encode_pipeline', 'encoded_lib')},
}

__all__ = sorted(['MidiMeError', *_LAZY_ATTRIBUTES])


def __getattr__(name):
  if name in _MOVED:
    _warnings.warn(f'midime_magenta.{name} moved: use midime_magenta.'
                   f'{_MOVED[name]} (its front door).', DeprecationWarning, 2)
    return _importlib.import_module(f'midime_magenta.{_MOVED[name]}.{name}')
  return _lazy(name)


def __dir__():
  return sorted(set(__all__) | {n for n in globals() if n.startswith('_')})
