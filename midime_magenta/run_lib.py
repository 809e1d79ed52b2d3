"""A MidiMe run folder: the one save format, whoever writes it.

`midime.json` is the manifest and commit point: the `.npz` files it names
(weights, latents, extras) are named by their content's hash, so a crash
leaves the previous run or the new one. Loading checks every field, shape
and size before anything is allocated and reads arrays with
`allow_pickle=False`: nothing in a run folder can run code or ask for
gigabytes. docs/personalizing.md lists the files.
"""

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import time
import zipfile

import numpy as np

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import midime_hparams

MODEL_FILE = 'midime.json'
# What marks a finished midime_encode folder (the encoding wing's format).
ENCODED_MANIFEST = 'manifest.json'
SUMMARY_FILE = 'summary.json'
LOSS_PLOT_FILE = 'loss.png'
TENSORBOARD_DIR = 'train'
FORMAT = 'midime_magenta.run'
FORMAT_VERSION = 2
_MAX_JSON_BYTES = 1 << 20
_MAX_Z_SIZE = 8192
_MAX_CHUNKS = 50_000_000
_MAX_EXTRA = 1 << 24  # Values of an extra (a constraint on z 8192: 8.5M).
EXTRAS = ('attributes', 'constraint')
_DATA_FILE = re.compile(
    r'(weights|latents|attributes|constraint)-[0-9a-f]{16}\.npz')
CONSTRAINT_PLOT_FILE = 'constraint.png'  # midime_constrain's before/after.
_LOSS_TAGS = ('loss/total', 'loss/reconstruction', 'loss/kl')


class ModelFileError(errors.MidiMeError):
  """A saved run that is missing, damaged or not a MidiMe run."""


class ModelMismatchError(errors.MidiMeError):
  """A saved run that belongs to another MusicVAE."""


class RunDirError(errors.MidiMeError):
  """A run folder that cannot be used (a file, someone else's, taken)."""


def _holds_run(run_dir):
  return os.path.isfile(os.path.join(run_dir, MODEL_FILE))


def check_run_dir(run_dir, overwrite, api=False):
  """Refuses a folder that cannot become this run (new, empty, or a run to
  `overwrite`); creates nothing; raises RunDirError in the words of the
  command line (the Python API's: `api`).
  """
  name, replace = ('run_dir', 'overwrite=True') if api else (
      '--run_dir', '--overwrite')
  if os.path.exists(run_dir) and not os.path.isdir(run_dir):
    raise RunDirError(f'{run_dir} is a file, not a folder; choose another '
                      f'{name}.')
  if os.path.isdir(run_dir):
    if _holds_run(run_dir):
      if not overwrite:
        raise RunDirError(
            f'{run_dir} already holds a MidiMe model; pass {replace} to '
            f'replace it, or choose another {name}.')
    else:
      others = sorted(n for n in os.listdir(run_dir) if not (
          n == file_util.LOCK_FILE or file_util.is_temporary(n)))
      if others:
        raise RunDirError(
            f'{run_dir} holds other files ({", ".join(others[:3])}'
            f'{", ..." if len(others) > 3 else ""}) and no MidiMe run; choose '
            f'a new or empty {name}.')
  existing = file_util.nearest_existing(run_dir)[0]
  if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
    raise RunDirError(
        f'Cannot create {name} {run_dir}: {existing} is not a writable '
        'folder.')


def claimed_run_dir(run_dir, overwrite=False, api=False):
  """`check_run_dir`, then the folder held by this process (created, locked;
  removed again if the block fails and it was made here). Raises RunDirError.
  """
  return file_util.claimed_folder(
      run_dir, lambda: check_run_dir(run_dir, overwrite, api), RunDirError,
      keep=_holds_run, what='run_dir' if api else '--run_dir')


def describe_music_vae(config_name, z_size, fingerprint):
  """The identity of a MusicVAE that a MidiMe model is stored with."""
  return {'config': config_name, 'z_size': int(z_size),
          'fingerprint': fingerprint}


def check_music_vae_matches(stored, expected, where, what='The MidiMe model'):
  """Raises ModelMismatchError unless two MusicVAE identities agree (`what`
  is 'The MidiMe model' of a run or 'The encoding' of midime_encode)."""
  if all(stored.get(k) == expected.get(k)
         for k in ('config', 'z_size', 'fingerprint')):
    return
  describe = lambda d: (f'{d.get("config")} (checkpoint '  # pylint: disable=g-long-lambda
                        f'{d.get("fingerprint")})')
  remedy = 'encode again' if what == 'The encoding' else 'train a new model'
  raise ModelMismatchError(
      f'{what} in {where} was made with MusicVAE {describe(stored)}, not '
      f'with the {describe(expected)} given; pass the config and checkpoint '
      f'it was made with, or {remedy}.')


@dataclasses.dataclass
class TrainingData:
  """What a MidiMe was trained on, one row per chunk, in time order.

  Attributes:
    z: float32 [n, z_size], MusicVAE's mu of each chunk.
    chunks: the converter's output tensors [n, steps, depth], or None.
    sources, starts: each chunk's source name and start in seconds.
  """
  z: np.ndarray
  chunks: np.ndarray | None = None
  sources: list = dataclasses.field(default_factory=list)
  starts: list = dataclasses.field(default_factory=list)

  def arrays(self):
    arrays = {'z': np.asarray(self.z, np.float32),
              'sources': np.array(self.sources, dtype=str),
              'starts': np.asarray(self.starts, np.float64)}
    if self.chunks is not None:
      arrays['chunks'] = np.asarray(self.chunks)
    return arrays


# -- saving --------------------------------------------------------------------


def save_run(run_dir, midime, training_data=None, history=None, summary=None,
             overwrite=True, extras=None, api=True):
  """Saves a `MidiMe` (and its `TrainingData`) as a run folder; returns midime.json.

  Everything is made in memory, then written in one pass (`_write_run`):
  `history` gives loss.png and TensorBoard's events, `summary` goes in the
  manifest, `extras` are {kind: (arrays, manifest fields)} of `EXTRAS`.
  Raises RunDirError (see `check_run_dir`) or file_util.OutputError.
  """
  files = {}
  manifest = {
      'format': FORMAT, 'version': FORMAT_VERSION,
      'input_size': midime.input_size, 'hparams': midime.hparams.to_dict(),
      'music_vae': midime.music_vae, 'latents': None, 'summary': summary or {},
      'weights': _packed(files, 'weights', midime.weight_arrays())}
  if training_data is not None:
    manifest['latents'] = _packed(files, 'latents', training_data.arrays())
  for kind, (arrays, fields) in (extras or {}).items():
    manifest[kind] = _packed(files, kind, arrays, fields)
  if history and history.get('loss'):
    files.update(_tensorboard_events(history))
    from midime_magenta import plots_lib  # pylint: disable=g-import-not-at-top
    title = f'MidiMe on {midime.music_vae.get("config", "MusicVAE")}'
    files[LOSS_PLOT_FILE] = lambda tmp: plots_lib.plot_loss_curve(
        history, tmp, title=title)
  with claimed_run_dir(run_dir, overwrite, api):
    return _write_run(run_dir, files, manifest, summary)


def add_to_run(run_dir, kind, arrays, fields):
  """Adds (or replaces) an extra of `EXTRAS` to an existing run, atomically.

  Raises:
    ModelFileError: when there is no run there or it is damaged.
    RunDirError: when another process is writing it.
  """
  if kind not in EXTRAS:
    raise ValueError(f'kind must be one of {EXTRAS}, got {kind!r}.')
  read_model_info(run_dir)  # A run, and undamaged.
  files = {}
  with claimed_run_dir(run_dir, overwrite=True):
    with open(os.path.join(run_dir, MODEL_FILE), encoding='utf-8') as f:
      manifest = json.load(f)
    manifest[kind] = _packed(files, kind, arrays, fields)
    return _write_run(run_dir, files, manifest)


def _packed(files, kind, arrays, fields=None):
  """Adds arrays to `files` as <kind>-<hash>.npz; returns its manifest entry."""
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  content = buffer.getvalue()
  digest = hashlib.sha256(content).hexdigest()
  name = f'{kind}-{digest[:16]}.npz'
  files[name] = content
  return {'file': name, 'sha256': digest, **(fields or {}),
          'arrays': {k: {'shape': list(a.shape), 'dtype': a.dtype.str}
                     for k, a in arrays.items()}}


def _tensorboard_events(history):
  """{train/<events file>: its bytes}: the loss curves per epoch as scalars.

  tf.summary writes them to TF's RAM file system, as TF's own file system
  takes only UTF-8 paths and a run folder's need not be.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ram = f'ram://midime-events-{os.getpid()}-{time.monotonic_ns()}'
  writer = tf.summary.create_file_writer(ram)
  with writer.as_default():
    for step, values in enumerate(zip(
        history['loss'], history['reconstruction_loss'], history['kl_loss']), 1):
      for tag, value in zip(_LOSS_TAGS, values):
        tf.summary.scalar(tag, float(value), step=step)
  writer.close()
  events = {}
  for name in tf.io.gfile.listdir(ram):
    with tf.io.gfile.GFile(f'{ram}/{name}', 'rb') as f:
      events[f'{TENSORBOARD_DIR}/{name}'] = f.read()
  tf.io.gfile.rmtree(ram)
  return events


def _write_run(run_dir, files, manifest, summary=None):
  """Writes `files` (name: bytes or `write(tmp)`) and summary.json, then
  midime.json, the commit point; then removes the data files (and events)
  it no longer names, and constraint.png without a constraint."""
  for name, content in files.items():
    path = os.path.join(run_dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)  # train/ for events.
    file_util.write_atomically(path, content)
  if summary is not None:
    file_util.write_json(os.path.join(run_dir, SUMMARY_FILE), summary)
  json_path = file_util.write_json(os.path.join(run_dir, MODEL_FILE), manifest)
  named = {manifest[k]['file'] for k in ('weights', 'latents', *EXTRAS)
           if manifest.get(k)}
  stale = [n for n in os.listdir(run_dir) if n not in named and (
      _DATA_FILE.fullmatch(n) or
      n == CONSTRAINT_PLOT_FILE and not manifest.get('constraint'))]
  if any(n.startswith(f'{TENSORBOARD_DIR}/') for n in files):
    stale += [f'{TENSORBOARD_DIR}/{n}' for n in os.listdir(os.path.join(
        run_dir, TENSORBOARD_DIR)) if f'{TENSORBOARD_DIR}/{n}' not in files]
  for name in stale:
    with contextlib.suppress(OSError):
      os.remove(os.path.join(run_dir, name))
  return json_path


# -- loading -------------------------------------------------------------------


def model_json_path(path):
  """The midime.json of a run folder (or the path itself if it is one)."""
  return path if str(path).endswith('.json') else os.path.join(path, MODEL_FILE)


def damaged_error(path, why):
  """The error for a run whose manifest holds something impossible."""
  return ModelFileError(
      f'The MidiMe run file {model_json_path(path)} is damaged ({why}); train '
      'the model again.')


def _check_type(value, kind, what, json_path):
  if not isinstance(value, kind) or isinstance(value, bool):  # No bool field.
    raise damaged_error(json_path, f'{what} is not a {getattr(kind, "__name__", kind)}')
  return value


def _check_file_entry(entry, json_path, what):
  _check_type(entry, dict, what, json_path)
  name = _check_type(entry.get('file'), str, f'{what}.file', json_path)
  if not _DATA_FILE.fullmatch(name):
    raise damaged_error(json_path, f'{what}.file {name!r} is not a data file name')
  _check_type(entry.get('sha256'), str, f'{what}.sha256', json_path)
  arrays = _check_type(entry.get('arrays'), dict, f'{what}.arrays', json_path)
  for key, spec in arrays.items():
    _check_type(spec, dict, f'{what}.arrays.{key}', json_path)
    shape = _check_type(spec.get('shape'), list, f'{key}.shape', json_path)
    if len(shape) > 4 or not all(isinstance(d, int) and not isinstance(d, bool)
                                 and 0 <= d <= _MAX_CHUNKS for d in shape):
      raise damaged_error(json_path, f'{key} has an impossible shape {shape}')
    _check_type(spec.get('dtype'), str, f'{key}.dtype', json_path)


def read_model_info(path):
  """A run's checked midime.json, without the arrays; raises ModelFileError."""
  json_path = model_json_path(path)
  folder = os.path.dirname(json_path) or '.'
  if not os.path.isfile(json_path):
    if os.path.isfile(os.path.join(folder, ENCODED_MANIFEST)):
      why = (f'{folder} is an encoding (midime_encode\'s output), not a '
             'MidiMe run; train on it with ')
      raise ModelFileError(
          f'{why}Personalizer.train(training_data=...) and '
          'encoding.load_training_data(folder).',
          cli=f'{why}midime_train --input_encoded={folder}.')
    why = f'There is no MidiMe model in {folder} (no {MODEL_FILE}); '
    raise ModelFileError(
        f'{why}train one and save it there first.',
        cli=f'{why}run midime_train with --run_dir there first.')
  try:
    meta = file_util.read_json(json_path, _MAX_JSON_BYTES, 'a manifest')
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    why = str(e) if type(e) is ValueError else type(e).__name__  # pylint: disable=unidiomatic-typecheck
    raise damaged_error(json_path, why) from None
  _check_type(meta, dict, 'the manifest', json_path)
  if meta.get('format') != FORMAT:
    raise damaged_error(json_path, 'it is not a MidiMe run manifest')
  if meta.get('version') != FORMAT_VERSION:
    raise ModelFileError(
        f'{json_path} is a MidiMe run of format version '
        f'{meta.get("version")!r}; this midime_magenta reads version '
        f'{FORMAT_VERSION}; train the model again.')
  size = _check_type(meta.get('input_size'), int, 'input_size', json_path)
  if not 1 <= size <= _MAX_Z_SIZE:
    raise damaged_error(json_path, f'input_size {size} is impossible')
  _check_type(meta.get('hparams'), dict, 'hparams', json_path)
  try:
    hparams = midime_hparams.HParams.from_dict(meta['hparams'])
  except (ValueError, TypeError) as e:
    raise damaged_error(json_path, f'hparams: {e}') from None
  if hparams.parameter_count(size) > midime_hparams.MAX_PARAMETERS:
    raise damaged_error(json_path, 'its layers are far larger than MidiMe needs')
  music_vae = _check_type(meta.get('music_vae'), dict, 'music_vae', json_path)
  for key, kind in (('config', str), ('z_size', int), ('fingerprint', str)
                    ) if music_vae else ():  # Empty: trained on bare latents.
    _check_type(music_vae.get(key), kind, f'music_vae.{key}', json_path)
  for kind in ('weights', 'latents', *EXTRAS):  # Only the weights are due.
    if kind == 'weights' or meta.get(kind) is not None:
      _check_file_entry(meta.get(kind), json_path, kind)
  _check_type(meta.get('summary', {}), dict, 'summary', json_path)
  meta['hparams_object'] = hparams
  return meta


def _read_npz(json_path, kind, meta, expected):
  """A data file's arrays, after checking its hash and each array's header
  against `expected` {key: (shape, dtype kinds)} (None: any dimension)."""
  path = os.path.join(os.path.dirname(json_path) or '.', meta[kind]['file'])
  if not os.path.isfile(path) or (
      file_util.sha256_file(path) != meta[kind]['sha256']):
    raise ModelFileError(
        f'{path} is missing or damaged (it does not match the checksum in '
        f'{json_path}); train the model again.')
  arrays = {}
  try:
    with zipfile.ZipFile(path) as archive:
      for key, (shape, kinds) in expected.items():
        with archive.open(f'{key}.npy') as f:
          version = np.lib.format.read_magic(f)
          found, _, dtype = (np.lib.format.read_array_header_1_0(f)
                             if version == (1, 0) else
                             np.lib.format.read_array_header_2_0(f))
          if dtype.kind not in kinds or len(found) != len(shape) or any(
              s is not None and s != d for s, d in zip(shape, found)):
            raise ValueError(f'{key} is {dtype} {list(found)}, not {kinds} '
                             f'{shape}')
        with archive.open(f'{key}.npy') as f:
          arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise ModelFileError(f'{path} is damaged ({e}); train the model '
                         'again.') from None
  if not all(np.all(np.isfinite(a)) for a in arrays.values()
             if a.dtype.kind == 'f'):
    raise damaged_error(json_path, f'its {"training " * (kind == "latents")}'
                   f'{kind} hold NaN or infinity')
  return arrays


def load_extra(path, meta, kind):
  """An extra's {key: float array} as its manifest lists it, or None if absent.

  Raises:
    ModelFileError: when it is damaged or far larger than an extra can be.
  """
  if not meta.get(kind):
    return None
  expected = {k: (v['shape'], 'f') for k, v in meta[kind]['arrays'].items()}
  if sum(np.prod(s, dtype=np.int64) for s, _ in expected.values()) > _MAX_EXTRA:
    raise damaged_error(model_json_path(path), f'its {kind} are far too large')
  return _read_npz(model_json_path(path), kind, meta, expected)


def load_run(path, expect_music_vae=None, meta=None):
  """Loads a run folder (or its midime.json), running no code from it.

  Args:
    expect_music_vae: `describe_music_vae(...)` of the MusicVAE in use.
    meta: `read_model_info(path)`, when the caller has read it already.

  Returns:
    (midime_model.MidiMe, TrainingData or None, the manifest dict).

  Raises:
    ModelFileError: when there is no run or it is damaged.
    ModelMismatchError: when it belongs to another MusicVAE (names both).
  """
  from midime_magenta import midime_model  # pylint: disable=g-import-not-at-top
  json_path = model_json_path(path)
  meta = read_model_info(json_path) if meta is None else meta
  if expect_music_vae is not None:
    check_music_vae_matches(meta['music_vae'], expect_music_vae,
                            os.path.dirname(json_path) or '.')
  size = meta['input_size']
  model = midime_model.MidiMe(size, meta['hparams_object'],
                              music_vae=meta['music_vae'])
  model.set_weight_arrays(_read_npz(json_path, 'weights', meta, {
      k: (s, 'f') for k, s in model.weight_shapes().items()}))
  model.training_summary = meta.get('summary', {})
  if not meta.get('latents'):
    return model, None, meta
  specs = meta['latents']['arrays']
  n = (specs.get('z', {}).get('shape') or [None])[0]
  expected = {'z': ([n, size], 'f'), 'sources': ([n], 'U'),
              'starts': ([n], 'f'),
              **({'chunks': ([n, None, None], 'fbiu')} if 'chunks' in specs
                 else {})}
  arrays = _read_npz(json_path, 'latents', meta, expected)
  return model, TrainingData(
      z=arrays['z'].astype(np.float32), chunks=arrays.get('chunks'),
      sources=[str(s) for s in arrays['sources']],
      starts=[float(s) for s in arrays['starts']]), meta
