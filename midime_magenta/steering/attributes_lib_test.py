"""Attribute measures on known notes, vectors on known latents and on the
official mel_2bar_small."""

import note_seq
import numpy as np
import pytest

from midime_magenta.steering import attributes_lib
from midime_magenta import personalizer as personalizer_lib
from midime_testing import testdata_lib


def _melody(pitches_and_steps, instrument=0, into=None):
  ns = into or note_seq.NoteSequence()
  for pitch, step in pitches_and_steps:
    ns.notes.add(pitch=pitch, start_time=step * 0.125,
                 end_time=step * 0.125 + 0.125, velocity=80,
                 instrument=instrument)
  return ns


def test_measures_of_a_known_chunk():
  # C D F# A on steps 0, 3, 6, 8 of a 2-bar chunk; a bass line below it
  # (instrument 1) and drums must not count.
  ns = _melody([(60, 0), (62, 3), (66, 6), (69, 8)])
  _melody([(36, 0), (30, 4)], instrument=1, into=ns)
  ns.notes.add(pitch=36, start_time=0.5, end_time=0.6, is_drum=True,
               instrument=9)
  m = lambda name: attributes_lib.measure(ns, name, 2)  # pylint: disable=g-long-lambda
  assert m('c_diatonic') == pytest.approx(0.75)  # F# is out.
  assert m('note_density') == pytest.approx(2.0)  # 4 onsets in 2 bars.
  assert m('average_interval') == pytest.approx((2 + 4 + 3) / 3)
  assert m('syncopation_16th') == pytest.approx(0.25)  # Step 3.
  assert m('syncopation_8th') == pytest.approx(0.25)  # Step 6.
  assert m('pitch_range') == 9


def test_empty_chunk_has_no_pitch_attributes_but_zero_density():
  empty = note_seq.NoteSequence()
  assert attributes_lib.measure(empty, 'note_density', 2) == 0
  assert np.isnan(attributes_lib.measure(empty, 'c_diatonic', 2))


def test_quartile_vector_points_along_what_the_attribute_follows():
  rng = np.random.default_rng(0)
  z = rng.standard_normal([40, 8]).astype(np.float32)
  # Density follows z[:, 3]: 1 to 8 onsets per 2 bars.
  counts = np.clip(np.round(4 + 2 * z[:, 3]), 1, 8).astype(int)
  sequences = [_melody([(60, 4 * k) for k in range(c)]) for c in counts]
  vectors = attributes_lib.quartile_vectors(
      z, sequences, ['note_density', 'c_diatonic'], 2, 'test')
  # Every chunk is in C: c_diatonic gives no direction and is left out.
  assert vectors.names == ['note_density']
  v = vectors.vectors[0]
  assert np.argmax(np.abs(v)) == 3 and v[3] > 0
  assert vectors.low[0] < vectors.high[0]
  moved = vectors.apply(z[:2], {'note_density': 2.0})
  np.testing.assert_allclose(moved - z[:2], 2.0 * np.stack([v, v]), rtol=1e-6)


def test_too_few_chunks_and_bad_specs_are_one_clear_error():
  with pytest.raises(attributes_lib.AttributeVectorError, match='at least 8'):
    attributes_lib.quartile_vectors(np.zeros([3, 4]), [], ['note_density'],
                                    2, 'x.mid')
  assert attributes_lib.parse_strengths(['note_density:+1.5', 'pitch_range:-1',
                                         'note_density:0.5']) == {
                                             'note_density': 2.0,
                                             'pitch_range': -1.0}
  for bad in ('loudness:1', 'note_density', 'note_density:x',
              'note_density:nan', 'note_density:11'):
    with pytest.raises(attributes_lib.AttributeVectorError):
      attributes_lib.parse_strengths([bad])


@pytest.fixture(scope='module')
def official(mel_2bar_small_checkpoint):
  p = personalizer_lib.Personalizer.from_checkpoint(
      'cat-mel_2bar_small', mel_2bar_small_checkpoint)
  p.train(testdata_lib.testdata_path('reel_4-4.mid'), seed=0, progress=False)
  p.compute_attribute_vectors(seed=0)
  return p


@pytest.mark.parametrize('name', ['note_density', 'c_diatonic',
                                  'pitch_range'])
def test_attribute_rises_with_strength_on_the_official_model(official, name):
  # MidiMe samples of the reel, moved along the prior's vector: the
  # decoded attribute climbs with the strength from -2 to +2.
  values = []
  for strength in (-2, -1, 0, 1, 2):
    sequences = official.sample(32, temperature=0.1, seed=1,
                                attributes={name: strength},
                                allow_copies=True)  # The same draws.
    values.append(np.nanmean([attributes_lib.measure(ns, name, 2)
                              for ns in sequences]))
  # Rising, up to the decoder's noise where it saturates (c_diatonic at 1).
  assert all(b >= a - 0.01 for a, b in zip(values, values[1:])), values
  assert values[-1] > values[0] + 0.2 * abs(values[0] or 1), values
