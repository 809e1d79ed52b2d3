"""Finding, checking (variables against the config's, before any restore)
and fingerprinting MusicVAE checkpoints."""

import contextlib
import copy
import dataclasses
import functools
import glob
import hashlib
import importlib.resources
import json
import logging as std_logging
import math
import os
import shutil
import tarfile
import warnings

from absl import logging
import tensorflow.compat.v1 as tf

from midime_magenta import configs
from midime_magenta import errors
from midime_magenta.checkpoints import catalogue_lib
from midime_magenta.checkpoints import download_lib
from midime_magenta import file_util
from midime_magenta.checkpoints import tfjs_checkpoint_lib
from midime_magenta.checkpoints import tfjs_config_lib


class CheckpointError(errors.MidiMeError):
  """A checkpoint that cannot be found, read or used with the config."""


# Variables that say nothing about the model's architecture or training.
_IGNORED_VARIABLES = ('global_step',)


@dataclasses.dataclass(frozen=True)
class ResolvedCheckpoint:
  """A TF `prefix`, the config name it carries (None for a bare TF one), a line
  for logs, and the `MidiMeConfig` of an unregistered (Magenta.js) MusicVAE."""
  prefix: str
  music_vae_config: str | None = None
  description: str = ''
  midime_config: object = None


def resolve_checkpoint(path):
  """The `ResolvedCheckpoint` of a prefix, a folder holding one, a `.tar`, a
  Magenta.js folder, or a catalogue name, URL or gs:// path (fetched, unpacked
  or converted once). Raises CheckpointError or DownloadError."""
  path = os.path.expanduser(path)
  entry = None
  if not os.path.exists(path) and not os.path.exists(path + '.index'):
    entry = catalogue_lib.entry_for(path)
    if entry is not None:
      path = download_lib.fetch_checkpoint(path)
  if os.path.isfile(os.path.join(path, tfjs_checkpoint_lib.MANIFEST)):
    name = catalogue_lib.checkpoint_name(entry) if entry else (
        os.path.basename(os.path.normpath(path)))
    try:
      return _resolve_tfjs(path, name)
    except tfjs_checkpoint_lib.TfjsCheckpointError as e:
      raise CheckpointError(str(e)) from None
  return ResolvedCheckpoint(_tf_prefix(path), entry and entry.config)


_MAPPING_VERSION = 1  # Bump when tfjs_config_lib maps architectures anew.
_DERIVED_VARIABLES = {}  # {a config's content key: its variables}.


def _resolve_tfjs(folder, name):
  """Reads, checks and converts (once) a Magenta.js checkpoint; its config is
  magenta's where one has exactly its variables, else its own."""
  built, description, is_trio = tfjs_config_lib.music_vae_config(folder)
  expected = _derived_config_variables(built)
  tfjs_config_lib.check_fits(expected, tfjs_checkpoint_lib.read_manifest(
      folder), folder)
  config_name = min((n for n, variables in _stored_config_variables().items()
                      if variables == expected and
                      _same_data(configs.get_music_vae_config(n), built)),
                     default=None)
  midime_config = None if config_name else configs.derived_config(
      name, built, is_trio=is_trio,
      description='Read from the Magenta.js checkpoint ' + name + '.')
  prefix = tfjs_checkpoint_lib.convert_to_tf_checkpoint(
      folder, download_lib.cache_root(), fill_zeros={
          n: expected[n] for n in tfjs_config_lib.OPTIONAL_VARIABLES})
  return ResolvedCheckpoint(
      prefix, config_name or midime_config.music_vae_config, description,
      midime_config)


def _same_data(config, other):
  """Whether two configs cut and encode music alike."""
  a, b = config.data_converter, other.data_converter
  return (type(a) is type(b) and
          config.hparams.max_seq_len == other.hparams.max_seq_len and
          a.output_depth == b.output_depth and a.input_depth == b.input_depth)


def _tf_prefix(path):
  """The prefix of a TF checkpoint: a prefix, a directory or a `.tar`."""
  try:
    path.encode('utf-8')
  except UnicodeEncodeError:  # A name's bytes of another encoding, escaped.
    raise CheckpointError(
        f'TensorFlow opens only paths that are UTF-8, and {path} is not; '
        'rename the checkpoint or its folder.') from None
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest and os.path.exists(latest + '.index'):
      return latest
    prefixes = sorted(p[:-len('.index')]
                      for p in glob.glob(os.path.join(path, '*.index')))
    if len(prefixes) == 1:
      return prefixes[0]
    if not prefixes:
      raise CheckpointError(
          f'Directory {path} holds no checkpoint (no *.index file); pass a '
          'checkpoint prefix, a directory holding one, or a .tar bundle.')
    names = ', '.join(os.path.basename(p) for p in prefixes)
    raise CheckpointError(
        f'Directory {path} holds several checkpoints ({names}) and no '
        '`checkpoint` file says which is latest; pass one prefix, e.g. '
        f'{prefixes[-1]}.')
  if os.path.isfile(path) and tarfile.is_tarfile(path):
    target = os.path.join(download_lib.cache_root(), 'unpacked',
                          tfjs_checkpoint_lib.files_key([path]))  # Once.
    try:
      return download_lib.unpack_bundle(path, target)
    except download_lib.DownloadError as e:
      raise CheckpointError(str(e)) from None
  if os.path.exists(path + '.index'):
    return path
  if os.path.isfile(path) and path.endswith('.index'):
    return path[:-len('.index')]
  raise CheckpointError(
      f'No MusicVAE checkpoint at {path}; pass a checkpoint prefix '
      '(model.ckpt-N), a directory holding one, a .tar bundle, a Magenta.js '
      'folder, or a name from midime_checkpoints.')


def damaged_checkpoint_error(prefix, error):
  """The CheckpointError for unreadable data; a damaged cached copy is dropped."""
  why = type(error).__name__
  cache = os.path.realpath(download_lib.cache_root())
  real = os.path.realpath(prefix)
  if real.startswith(cache + os.sep):
    entry = os.path.join(cache, os.path.relpath(real, cache).split(os.sep)[0])
    shutil.rmtree(entry, ignore_errors=True)
    return CheckpointError(
        f'The cached checkpoint {prefix} is damaged ({why}); it was dropped '
        'from the cache: run again to fetch it anew.')
  return CheckpointError(
      f'The checkpoint {prefix} is damaged ({why}: its data file is '
      'truncated, corrupt or missing); download it again.')


def checkpoint_variables(prefix):
  """{variable name: shape} stored in a checkpoint; CheckpointError if unread."""
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError(
        f'Cannot read checkpoint {prefix}: {e.__class__.__name__}; the files '
        'are damaged or incomplete, fetch them again.') from None
  return {name: list(shape)
          for name, shape in reader.get_variable_to_shape_map().items()
          if name not in _IGNORED_VARIABLES}


@contextlib.contextmanager
def quiet_graph_building():
  """Hides magenta's TF1 deprecation warnings while a graph is built."""
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel(std_logging.ERROR)
  try:
    with warnings.catch_warnings():  # (action=: Python 3.11 and later.)
      warnings.simplefilter('ignore')
      yield
  finally:
    logger.setLevel(level)


def build_config_variables(music_vae_config):
  """{variable name: shape} of the inference graph `TrainedModel` would restore."""
  config = copy.deepcopy(music_vae_config)
  converter = config.data_converter
  hparams = config.hparams
  hparams.batch_size = 1
  with tf.Graph().as_default() as graph, quiet_graph_building():
    model = config.model
    model.build(hparams, converter.output_depth, is_training=False)
    z = (tf.placeholder(tf.float32, [1, hparams.z_size])
         if hparams.z_size else None)
    c_input = (tf.placeholder(tf.float32, [None, converter.control_depth])
               if converter.control_depth > 0 else None)
    model.sample(1, max_length=tf.placeholder(tf.int32, ()), z=z,
                 c_input=c_input, temperature=tf.placeholder(tf.float32, ()))
    if hparams.z_size:
      model.encode(
          tf.placeholder(tf.float32, [1, None, converter.input_depth]),
          tf.placeholder(tf.int32, [1] + list(converter.length_shape)),
          tf.placeholder(tf.float32, [1, None, converter.control_depth]))
    return {v.op.name: v.shape.as_list()
            for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
            if v.op.name not in _IGNORED_VARIABLES}


@functools.lru_cache(maxsize=None)
def _stored_config_variables():
  resource = importlib.resources.files('midime_magenta').joinpath(
      'musicvae_variables.json')
  with resource.open(encoding='utf-8') as f:
    return json.load(f)


def _derived_config_variables(music_vae_config):
  """Variables of a config the stored table lacks, built once and cached
  (a 16-bar graph takes seconds)."""
  converter = music_vae_config.data_converter
  key = hashlib.sha256(json.dumps([
      _MAPPING_VERSION, type(music_vae_config.model.encoder).__name__,
      type(music_vae_config.model.decoder).__name__, type(converter).__name__,
      converter.input_depth, converter.output_depth,
      converter.control_depth, music_vae_config.hparams.values()],
      sort_keys=True, default=str).encode()).hexdigest()[:16]
  path = os.path.join(download_lib.cache_root(), 'variables', f'{key}.json')
  if key not in _DERIVED_VARIABLES:
    try:
      _DERIVED_VARIABLES[key] = file_util.read_json(path, 1 << 24)
    except (OSError, ValueError):
      _DERIVED_VARIABLES[key] = build_config_variables(music_vae_config)
      with contextlib.suppress(OSError, file_util.OutputError):  # Read-only.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        file_util.write_json(path, _DERIVED_VARIABLES[key])
  return _DERIVED_VARIABLES[key]


def config_variables(config):
  """{variable name: shape} that a `MidiMeConfig` or config name restores."""
  if not isinstance(config, str):
    if config.music_vae is not None:
      return _derived_config_variables(config.music_vae)
    config = config.music_vae_config
  return _stored_config_variables().get(config) or _derived_config_variables(
      configs.get_music_vae_config(config))


def configs_matching(found):
  """Known configs whose every variable the checkpoint holds, most used first."""
  stored = _stored_config_variables()
  matches = [name for name, expected in stored.items()
             if not tfjs_config_lib.mismatches(expected, found)]
  return sorted(matches, key=lambda n: (-len(stored[n]), n))


def config_of_variables(prefix, shown=None):
  """The one known config whose variables a checkpoint holds; ConfigError
  naming the candidates when none or several fit."""
  matches = configs_matching(checkpoint_variables(prefix))
  if len(matches) == 1:
    logging.info('%s: read as a %s checkpoint (its variables are that '
                 'config\'s).', shown or prefix, matches[0])
    return matches[0]
  which = (f'its variables fit {", ".join(matches[:-1])} and {matches[-1]}'
           if matches else 'its variables fit no known MusicVAE config')
  why = (f'Checkpoint {shown or prefix} does not say which MusicVAE config it '
         f'is and {which}')
  raise configs.ConfigError(f'{why}; pass config.', cli=f'{why}; pass --config.')


def check_checkpoint_fits_config(config, prefix):
  """CheckpointError, naming the config it looks like, when a checkpoint does
  not fit `config` (a `MidiMeConfig` or a config name)."""
  found = checkpoint_variables(prefix)
  mismatches = tfjs_config_lib.mismatches(config_variables(config), found)
  config_name = config if isinstance(config, str) else config.music_vae_config
  if not mismatches:
    return
  guesses = [g for g in configs_matching(found) if g != config_name]
  if guesses:
    hint = (f'it looks like a {guesses[0]} checkpoint; pass --config='
            f'{guesses[0]}' + (f' (or one of {", ".join(guesses[1:4])})'
                               if len(guesses) > 1 else ''))
  else:
    name, (want, got) = sorted(mismatches.items())[0]
    got_text = 'missing' if got is None else f'shape {got}'
    hint = (f'{len(mismatches)} variables differ (e.g. {name}: config wants '
            f'{want}, checkpoint has {got_text}) and it matches no known '
            'MusicVAE config')
  raise CheckpointError(
      f'Checkpoint {prefix} does not fit config {config_name}: {hint}.')


def checkpoint_fingerprint(prefix):
  """A short hash of a checkpoint's weights, the same in TF and Magenta.js
  layouts: every name and shape, and the values of tensors of <= 65,536."""
  reader = tf.train.load_checkpoint(prefix)
  digest = hashlib.sha256()
  for name, shape in sorted(checkpoint_variables(prefix).items()):
    digest.update(f'{name}:{shape};'.encode())
    if math.prod(shape) <= 65536:
      digest.update(reader.get_tensor(name).astype('<f4').tobytes())
  return digest.hexdigest()[:16]
