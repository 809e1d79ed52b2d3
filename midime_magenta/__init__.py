"""midime_magenta: MidiMe (Dinculescu, Engel & Roberts, 2019) for Magenta's MusicVAE.

A small VAE trained on the MusicVAE latents of a person's own MIDI, so that
sampling it gives music that sounds like theirs, without touching MusicVAE.

Importing this package is cheap: it checks that magenta is installed and sets
the TensorFlow environment, but loads TensorFlow only when a model class is
first used (`midime_magenta.MidiMe`, `midime_magenta.Personalizer`).
"""

import importlib
import importlib.util
import os

# magenta 2.1.4 and our model are written against Keras 2 (tf-keras). This must
# be set before TensorFlow is imported anywhere, and this is the one place.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
# TensorFlow's own switch for its C++ INFO and WARNING lines (see startup_lib
# for the lines it does not cover).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# magenta's music_vae imports tensorflow_datasets at the top but we never use
# it (and it is not a dependency): a stub stands in until an attribute is used.
from midime_magenta import startup_lib as _startup_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
_startup_lib.defer_tensorflow_datasets()

MAGENTA_INSTALL_COMMAND = 'pip install --no-deps magenta==2.1.4'

if importlib.util.find_spec('magenta') is None:
  raise ImportError(
      'midime_magenta needs magenta 2.1.4, installed without its outdated '
      f'pins: run `{MAGENTA_INSTALL_COMMAND}`.')

__version__ = '0.1.0'

# Public names, imported on first use so that `import midime_magenta` and
# `--help` stay fast (TensorFlow takes seconds to import).
_LAZY_ATTRIBUTES = {
    'MidiMe': 'midime_magenta.midime_model',
    'MidiMeHParams': 'midime_magenta.midime_model',
    'Personalizer': 'midime_magenta.personalizer',
    'load_music_vae': 'midime_magenta.checkpoint_lib',
    'chunk_note_sequence': 'midime_magenta.chunking_lib',
}


def __getattr__(name):
  if name in _LAZY_ATTRIBUTES:
    from midime_magenta import startup_lib  # pylint: disable=g-import-not-at-top
    startup_lib.import_quietly()
    return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(list(globals()) + list(_LAZY_ATTRIBUTES))
