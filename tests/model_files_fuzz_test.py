"""Fuzzing what a run folder and a Magenta.js checkpoint hold, with hypothesis.

Model manifests (midime.json), the arrays behind them (.npy headers of any
shape and dtype, latents of any shape, NaN) and Magenta.js weight manifests
are crafted at random; loading must end in a model or in one of our errors
(`errors.MidiMeError`), never another exception, and never allocate more
than the manifest and the hyperparameters allow. The suite runs a bounded
number of examples; `bin/fuzz N` runs N per target.
"""

import hashlib
import io
import json
import os
import shutil
import zipfile

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from midime_magenta import errors
from midime_magenta import midime_hparams
from midime_magenta import midime_model
from midime_magenta import run_lib
from midime_magenta.checkpoints import tfjs_checkpoint_lib

EXAMPLES = int(os.environ.get('MIDIME_FUZZ_EXAMPLES', '30'))
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=list(hypothesis.HealthCheck))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory):
  """A small real run with training latents: what the fuzzers start from."""
  folder = tmp_path_factory.mktemp('run') / 'run'
  model = midime_model.MidiMe(8, midime_hparams.HParams(
      encoder_layers=(6,), decoder_layers=(6,), latent_size=2),
                              music_vae=run_lib.describe_music_vae(
                                  'tiny-mel_2bar', 8, 'f' * 16), seed=0)
  z = np.random.default_rng(0).standard_normal([5, 8]).astype(np.float32)
  history = model.train(z, epochs=2)
  run_lib.save_run(str(folder), model, run_lib.TrainingData(
      z=z, chunks=np.zeros([5, 4, 3], bool), sources=['a'] * 5,
      starts=[0.0, 2.0, 4.0, 6.0, 8.0]), history)
  return folder


def _copy(saved_run, tmp_path_factory):
  folder = tmp_path_factory.mktemp('case') / 'run'
  shutil.copytree(saved_run, folder)
  return folder, json.loads((folder / 'midime.json').read_text())


def _load(folder):
  try:
    model, data, _ = run_lib.load_run(str(folder))
  except errors.MidiMeError:
    return None
  return model, data


def _paths(value, prefix=()):
  """Every path to a leaf or container in a JSON value."""
  yield prefix
  if isinstance(value, dict):
    for k, v in value.items():
      yield from _paths(v, prefix + (k,))
  elif isinstance(value, list):
    for i, v in enumerate(value):
      yield from _paths(v, prefix + (i,))


def _mutate(manifest, data, at_least):
  """Replaces `at_least`..3 values anywhere in a JSON manifest by JSON."""
  paths = [p for p in _paths(manifest) if p]
  for _ in range(data.draw(st.integers(at_least, 3))):
    path = data.draw(st.sampled_from(paths))
    target = manifest
    try:
      for key in path[:-1]:
        target = target[key]
      target[path[-1]] = data.draw(JSON)
    except (KeyError, IndexError, TypeError):
      continue  # An earlier change removed this path.


@SETTINGS
@hypothesis.given(data=st.data())
def test_crafted_model_manifest(saved_run, tmp_path_factory, data):
  folder, manifest = _copy(saved_run, tmp_path_factory)
  _mutate(manifest, data, 1)
  (folder / 'midime.json').write_text(json.dumps(manifest))
  loaded = _load(folder)
  if loaded is not None:
    model, _ = loaded
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def _npy_member(shape, dtype, payload):
  buffer = io.BytesIO()
  np.lib.format.write_array_header_1_0(buffer, {
      'descr': np.dtype(dtype).str, 'fortran_order': False,
      'shape': tuple(shape)})
  return buffer.getvalue() + payload


@SETTINGS
@hypothesis.given(
    kind=st.sampled_from(['weights', 'latents']),
    shape=st.lists(st.integers(0, 2**40), max_size=4),
    dtype=st.sampled_from(['<f4', '<f8', '<i8', '|b1', '<U4', '|O']),
    payload=st.binary(max_size=64), which=st.integers(0, 20))
def test_crafted_array_headers(saved_run, tmp_path_factory, kind, shape,
                               dtype, payload, which):
  """An .npy header may claim terabytes: it must be refused, not allocated."""
  folder, manifest = _copy(saved_run, tmp_path_factory)
  path = folder / manifest[kind]['file']
  with zipfile.ZipFile(path) as archive:
    members = {n: archive.read(n) for n in archive.namelist()}
  name = sorted(members)[which % len(members)]
  members[name] = _npy_member(shape, dtype, payload)
  with zipfile.ZipFile(path, 'w') as archive:
    for n, content in members.items():
      archive.writestr(n, content)
  manifest[kind]['sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
  (folder / 'midime.json').write_text(json.dumps(manifest))
  assert _load(folder) is None  # Every such change is caught.


@SETTINGS
@hypothesis.given(z=st.one_of(
    st.builds(lambda s: np.zeros(s, np.float32),
              st.lists(st.integers(0, 9), min_size=1, max_size=3)),
    st.builds(lambda v: np.full([5, 8], v, np.float32),
              st.sampled_from([np.nan, np.inf, -np.inf, 1e38]))))
def test_crafted_latents(saved_run, tmp_path_factory, z):
  folder, manifest = _copy(saved_run, tmp_path_factory)
  path = folder / manifest['latents']['file']
  with np.load(path) as npz:
    arrays = {k: npz[k] for k in npz.files}
  arrays['z'] = z
  np.savez(path, **arrays)
  manifest['latents']['sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
  (folder / 'midime.json').write_text(json.dumps(manifest))
  loaded = _load(folder)
  if loaded is not None:  # Only a z the manifest and model agree on loads.
    _, data = loaded
    assert data.z.shape == (5, 8) and np.all(np.isfinite(data.z))


WEIGHT = st.fixed_dictionaries({}, optional={
    'name': st.one_of(st.text(max_size=6), JSON),
    'shape': st.one_of(st.lists(st.integers(-3, 2**33), max_size=3), JSON),
    'dtype': st.sampled_from(['float32', 'int32', 'uint8', 'float16', 'x']),
    'quantization': st.one_of(JSON, st.fixed_dictionaries({
        'dtype': st.sampled_from(['uint8', 'uint16', 'float16', 'int8']),
        'min': st.floats(allow_nan=True), 'scale': st.floats(
            allow_nan=True)})),
})


@SETTINGS
@hypothesis.given(manifest=st.one_of(JSON, st.lists(st.fixed_dictionaries({
    'paths': st.one_of(st.lists(st.sampled_from(['shard', '../x', '']),
                                max_size=2), JSON),
    'weights': st.one_of(st.lists(st.one_of(WEIGHT, JSON), max_size=3),
                         JSON)}), max_size=2)))
def test_crafted_tfjs_manifest(tmp_path_factory, manifest):
  folder = tmp_path_factory.mktemp('tfjs')
  (folder / 'weights_manifest.json').write_text(json.dumps(manifest))
  (folder / 'shard').write_bytes(bytes(64))
  try:
    weights = tfjs_checkpoint_lib.read_weights(str(folder))
  except errors.MidiMeError:
    return
  # Read: then every weight came out as float32 of its manifest's shape.
  shapes = {w['name']: w['shape'] for g in manifest for w in g['weights']}
  assert all(w.dtype == np.float32 and list(w.shape) == shapes[name]
             for name, w in weights.items())


RULE_TEXT = st.one_of(
    st.text(max_size=120),
    st.builds(lambda kind, body: f'{kind}:{body}',
              st.sampled_from(['key', 'density', 'pitch', 'Key', 'range', '']),
              st.text(alphabet='CDEFGABb#m-0123456789.:, +e', max_size=24)))


@SETTINGS
@hypothesis.given(specs=st.lists(RULE_TEXT, max_size=20))
def test_rule_strings(specs):
  """Any rule text is read or refused with our error; what is read is what a
  run can hold (the specs a constraint saves read back the same)."""
  from midime_magenta.steering import rules_lib  # pylint: disable=g-import-not-at-top
  try:
    rules = rules_lib.parse_rules(specs)
  except errors.MidiMeError:
    return
  assert 1 <= len(rules) <= rules_lib.MAX_RULES
  assert all(len(r.spec) <= rules_lib.MAX_RULE_CHARS for r in rules)
  assert rules_lib.parse_rules([r.spec for r in rules]) == rules


@pytest.fixture(scope='module')
def saved_encoding(tmp_path_factory):
  """A small real encoding (two shards, 6 chunks of z_size 4)."""
  from midime_magenta.encoding import encoded_lib  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp('encoding') / 'encoded'
  folder.mkdir()
  shards = [f'encoded-0000{k}-of-00002.tfrecord' for k in range(2)]
  rng = np.random.default_rng(0)
  for k, name in enumerate(shards):
    with tf.io.TFRecordWriter(str(folder / name)) as writer:
      for chunk in range(3):
        writer.write(encoded_lib.chunk_example(
            rng.standard_normal(4), f'tune{k}.mid', -1, chunk, 2.0 * chunk))
  encoded_lib.write_manifest(str(folder), {
      'music_vae': run_lib.describe_music_vae('tiny-mel_2bar', 4, 'f' * 16),
      'chunks': 6, 'shards': shards, 'files': 2, 'sequences': 2,
      'skipped': 0})
  return folder


@SETTINGS
@hypothesis.given(data=st.data())
def test_crafted_encoded_folder(saved_encoding, tmp_path_factory, data):
  """Crafted manifests and shard bytes: an encoding loads or is refused with
  our error, never another exception; what loads is finite, in order."""
  from midime_magenta.encoding import encoded_lib  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp('case') / 'encoded'
  shutil.copytree(saved_encoding, folder)
  manifest = json.loads((folder / 'manifest.json').read_text())
  _mutate(manifest, data, 0)
  (folder / 'manifest.json').write_text(json.dumps(manifest))
  shard = folder / data.draw(st.sampled_from(sorted(
      p.name for p in folder.glob('encoded-*'))))
  raw = bytearray(shard.read_bytes())
  for _ in range(data.draw(st.integers(0, 4))):
    raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(
        st.integers(0, 255))
  cut = data.draw(st.integers(0, len(raw)))
  shard.write_bytes(bytes(raw[:cut]))
  try:
    training, _ = encoded_lib.load_training_data(str(folder))
  except errors.MidiMeError:
    return
  assert np.all(np.isfinite(training.z))
  assert len(training.z) == len(training.sources) == len(training.starts)
