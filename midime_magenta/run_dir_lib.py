"""A run folder as a place: a folder holding `MODEL_FILE`, claimed while written.

A second writer is refused, and a folder of someone else's files is never
used. The format itself is `run_lib`'s.
"""

import os

from midime_magenta import errors
from midime_magenta import file_util

MODEL_FILE = 'midime.json'
# What marks a finished midime_encode folder (encoded_lib's format); named
# here so that a run's loader can tell a user who passed one.
ENCODED_MANIFEST = 'manifest.json'


class RunDirError(errors.MidiMeError):
  """A run folder that cannot be used (a file, someone else's, taken)."""


def holds_run(run_dir):
  return os.path.isfile(os.path.join(run_dir, MODEL_FILE))


def is_encoding(folder):
  """True for a local midime_encode output (not a run)."""
  return os.path.isfile(os.path.join(folder, ENCODED_MANIFEST))


def check_run_dir(run_dir, overwrite, api=False):
  """Refuses a folder that cannot become this run (new, empty, or a run to
  `overwrite`); creates nothing; raises RunDirError saying why, in the
  words of the command line, or of the Python API with `api`.
  """
  name, replace = ('run_dir', 'overwrite=True') if api else (
      '--run_dir', '--overwrite')
  if os.path.exists(run_dir) and not os.path.isdir(run_dir):
    raise RunDirError(f'{run_dir} is a file, not a folder; choose another '
                      f'{name}.')
  if os.path.isdir(run_dir):
    file_util.check_not_held(run_dir, RunDirError)
    if holds_run(run_dir):
      if not overwrite:
        raise RunDirError(
            f'{run_dir} already holds a MidiMe model; pass {replace} to '
            f'replace it, or choose another {name}.')
    else:
      others = sorted(n for n in os.listdir(run_dir)
                      if n != file_util.LOCK_FILE and not file_util.is_temporary(n))
      if others:
        raise RunDirError(
            f'{run_dir} holds other files ({", ".join(others[:3])}'
            f'{", ..." if len(others) > 3 else ""}) and no MidiMe run; choose '
            f'a new or empty {name}.')
  existing = os.path.abspath(run_dir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
    raise RunDirError(
        f'Cannot create {name} {run_dir}: {existing} is not a writable '
        'folder.')


def claimed_run_dir(run_dir, overwrite=False, api=False):
  """Holds a run folder for this process while a run is made and saved.

  Checks it (`check_run_dir`), creates it and takes its lock
  (`file_util.claimed_folder`); if the body fails, folders this call created
  are removed again. Raises RunDirError.
  """
  return file_util.claimed_folder(
      run_dir, lambda: check_run_dir(run_dir, overwrite, api), RunDirError,
      keep=holds_run, what='run_dir' if api else '--run_dir')
