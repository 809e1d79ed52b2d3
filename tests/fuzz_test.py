"""Fuzzing the chunking and training entry points with hypothesis.

Every outcome must be a result or one of the project's own errors. The suite
runs a bounded number of examples; `bin/fuzz` runs many more
(MIDIME_FUZZ_EXAMPLES sets the count per target).
"""

import io
import os

import hypothesis
import hypothesis.strategies as st
import mido
import note_seq
import numpy as np
import pytest

from midime_magenta import chunking_lib
from midime_magenta import errors
from midime_magenta import midi_io
from midime_magenta import configs
from midime_magenta import midime_hparams
from midime_magenta import midime_model
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import tracks_lib
from midime_testing import testdata_lib

EXAMPLES = int(os.environ.get('MIDIME_FUZZ_EXAMPLES', '30'))
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=list(hypothesis.HealthCheck))
SEEDS = [open(testdata_lib.testdata_path(n), 'rb').read() for n in (
    'reel_4-4.mid', 'chorale_satb.mid', 'drums_only.mid', 'waltz_3-4.mid')]
CONFIGS = [configs.get_music_vae_config(configs.get_config(
    testdata_lib.tiny_config(n))) for n in (
        'tiny-mel_2bar', 'tiny-drums_2bar', 'tiny-trio_16bar')]
OUR_ERRORS = (midi_io.InputError,)


@st.composite
def mutated_midi(draw):
  data = bytearray(draw(st.sampled_from(SEEDS)))
  for _ in range(draw(st.integers(1, 8))):
    kind = draw(st.sampled_from(['flip', 'truncate', 'insert', 'dup']))
    pos = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == 'flip' and data:
      data[pos] ^= draw(st.integers(1, 255))
    elif kind == 'truncate':
      del data[pos:]
    elif kind == 'insert':
      data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    elif kind == 'dup' and data:
      end = min(len(data), pos + draw(st.integers(1, 64)))
      data[pos:pos] = data[pos:end]
  return bytes(data)


@st.composite
def random_note_sequences(draw):
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  for _ in range(draw(st.integers(0, 3))):
    # Mostly music, and the edges: MIDI's slowest tempo (0xFFFFFF us a
    # quarter), slower ones only a NoteSequence holds, the reader's fastest.
    ns.tempos.add(time=draw(st.floats(0, 60)), qpm=draw(st.one_of(
        st.floats(1, 400), st.sampled_from([0.01, 3.5762789, 10_000.0]),
        st.floats(0, 20_000))))
  for _ in range(draw(st.integers(0, 2))):
    ns.time_signatures.add(time=draw(st.floats(0, 60)),
                           numerator=draw(st.integers(1, 12)),
                           denominator=draw(st.sampled_from([1, 2, 4, 8, 16])))
  for _ in range(draw(st.integers(0, 120))):
    start = draw(st.floats(-1, 120))
    ns.notes.add(pitch=draw(st.integers(0, 127)),
                 velocity=draw(st.integers(0, 127)),
                 start_time=start,
                 end_time=start + draw(st.floats(-0.5, 8)),
                 instrument=draw(st.integers(0, 12)),
                 program=draw(st.one_of(st.integers(0, 127),
                                        st.sampled_from([-1, 128, 200]))),
                 is_drum=draw(st.booleans()))
  ns.total_time = max([n.end_time for n in ns.notes] + [0.0])
  return ns


@SETTINGS
@hypothesis.given(midi=mutated_midi(), config=st.sampled_from(CONFIGS))
def test_mutated_midi_bytes(tmp_path_factory, midi, config):
  path = str(tmp_path_factory.mktemp('fuzz') / 'x.mid')
  with open(path, 'wb') as f:
    f.write(midi)
  try:
    ns = midi_io.read_midi_file(path)
    result = chunking_lib.chunk_note_sequence(ns, config, path)
  except OUR_ERRORS:
    return
  _check_chunked(result, config)


def _check_chunked(result, config):
  """Chunks, or a reason, never both or neither; chunks in time order; and
  outputs in the input's voicing can be written as MIDI."""
  assert (result.num_chunks > 0) != (result.reason is not None), result
  assert len(result.starts) == result.num_chunks
  assert result.starts == sorted(result.starts)
  assert all(len(x) == config.hparams.max_seq_len for x in result.inputs)
  decoded = note_seq.NoteSequence(ticks_per_quarter=220)
  decoded.tempos.add(qpm=120.0)
  for instrument in (0, 1):  # A melody, and a trio's bass.
    decoded.notes.add(pitch=60, velocity=80, start_time=0.0, end_time=0.5,
                      instrument=instrument)
  decoded.total_time = 0.5
  midi = io.BytesIO()
  note_seq.note_sequence_to_pretty_midi(
      tracks_lib.voicing_of([result]).apply(decoded)).write(midi)
  midi.seek(0)
  assert mido.MidiFile(file=midi).length > 0


@SETTINGS
@hypothesis.given(ns=random_note_sequences(), config=st.sampled_from(CONFIGS))
def test_random_note_sequences(ns, config):
  try:
    result = chunking_lib.chunk_note_sequence(ns, config, 'random')
  except OUR_ERRORS:
    return
  _check_chunked(result, config)


@SETTINGS
@hypothesis.given(
    z=st.one_of(
        st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True,
                                    width=32), min_size=8, max_size=8),
                 min_size=0, max_size=6).map(np.array),
        st.integers(0, 5).map(lambda n: np.zeros([n, 7]))),
    learning_rate=st.sampled_from([1e-3, 1.0, 1e6]))
def test_training_on_arbitrary_latents(z, learning_rate):
  model = midime_model.MidiMe(8, midime_hparams.HParams(
      encoder_layers=(8,), decoder_layers=(8,), learning_rate=learning_rate),
      seed=0)
  try:
    history = model.train(z, epochs=3)
  except (ValueError, midime_model.TrainingDivergedError):
    return
  assert len(history['loss']) == 3 and np.isfinite(history['loss']).all()


@pytest.fixture(scope='module')
def tiny_personalizer(tiny_mel):
  return personalizer_lib.Personalizer(testdata_lib.tiny_config('tiny-mel_2bar'), music_vae=tiny_mel)


@hypothesis.settings(SETTINGS, max_examples=max(EXAMPLES // 4, 5))
@hypothesis.given(ns=random_note_sequences())
def test_personalizer_training_on_random_sequences(tiny_personalizer, ns):
  try:
    history = tiny_personalizer.train(ns, epochs=2, seed=0)
  except (chunking_lib.NoChunksError, midi_io.InputError):
    return
  assert len(history['loss']) == 2


# Any value, for any argument: small counts (large ones are refused, not
# drawn), numbers of every kind, text, lists and dicts.
ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 4),
    st.sampled_from([2**63, -2**63, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
    st.lists(st.floats(-3, 3), max_size=4),
    st.dictionaries(st.sampled_from(['note_density', 'x']),
                    st.one_of(st.floats(), st.text(max_size=2)), max_size=2))


@pytest.fixture(scope='module')
def trained_personalizer(tiny_mel):
  p = personalizer_lib.Personalizer(
      testdata_lib.tiny_config('tiny-mel_2bar'), music_vae=tiny_mel)
  p.train(testdata_lib.testdata_path('reel_4-4.mid'), epochs=2, seed=0,
          progress=False)
  return p


@SETTINGS
@hypothesis.given(method=st.sampled_from([
    'sample', 'sample_prior', 'piece', 'traverse', 'reconstruct', 'decode',
    'decode_points', 'interpolation_latents', 'steer']),
                  args=st.lists(ANY, min_size=2, max_size=3))
def test_the_api_takes_any_argument(trained_personalizer, method, args):
  """Personalizer's methods give a result or a MidiMeError, never Python's
  or TensorFlow's own errors."""
  try:
    getattr(trained_personalizer, method)(*args)
  except errors.MidiMeError:
    pass
