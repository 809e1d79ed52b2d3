"""Tests for Personalizer: MIDI paths in, NoteSequences out, on real models."""

import json
import os

import note_seq
import numpy as np
import pytest

from midime_magenta import chunking_lib
from midime_magenta import errors
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import run_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


@pytest.fixture(scope='module')
def personalizer(mel_2bar_small):
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  p.train(REEL, epochs=100, seed=0)
  return p


def _notes_ok(sequences, n):
  assert len(sequences) == n
  assert all(isinstance(s, note_seq.NoteSequence) for s in sequences)
  assert all(0 < s.total_time <= 4.0 + 1e-6 for s in sequences if s.notes)
  assert sum(len(s.notes) for s in sequences) > 0


def test_train_from_a_midi_path(personalizer):
  assert personalizer.training_data.z.shape == (8, 256)
  assert [c.num_chunks for c in personalizer.inputs] == [8]
  assert personalizer.training_data.starts == [4.0 * i for i in range(8)]
  assert len(personalizer.history['loss']) == 100


def test_sample_reconstruct_interpolate_traverse(personalizer):
  _notes_ok(personalizer.sample(4, seed=1), 4)
  _notes_ok(personalizer.sample_prior(3, seed=1), 3)
  _notes_ok(personalizer.reconstruct(), 8)
  _notes_ok(personalizer.reconstruct(REEL), 8)
  folk = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')
  _notes_ok(personalizer.interpolate(REEL, folk, steps=5), 5)
  _notes_ok(personalizer.traverse(2, values=[-1.0, 0.0, 1.0]), 3)
  with pytest.raises(errors.UsageError, match='dimension must be a whole number from 0 to 3'):
    personalizer.traverse(4)


def test_inputs_without_chunks_say_why(personalizer):
  with pytest.raises(chunking_lib.NoChunksError, match='only drums'):
    personalizer.reconstruct(testdata_lib.testdata_path('drums_only.mid'))


def test_a_waltz_is_personalized_as_a_stream_of_steps(personalizer):
  waltz = testdata_lib.testdata_path('waltz_3-4.mid')
  chunked = personalizer.chunk(waltz)
  assert chunked[0].num_chunks > 0 and '3/4' in chunked[0].warning
  _notes_ok(personalizer.reconstruct(waltz), chunked[0].num_chunks)


def test_save_and_load_with_the_same_checkpoint(personalizer,
                                                mel_2bar_small_checkpoint,
                                                tmp_path):
  personalizer.save(str(tmp_path / 'me'))
  loaded = personalizer_lib.Personalizer.load(str(tmp_path / 'me'),
                                              mel_2bar_small_checkpoint)
  z = personalizer.training_data.z
  np.testing.assert_array_equal(loaded.training_data.z, z)
  assert loaded.training_data.sources == [REEL] * 8
  np.testing.assert_array_equal(loaded.midime.reconstruct(z),
                                personalizer.midime.reconstruct(z))
  assert sorted(os.listdir(tmp_path / 'me'))[:1] == ['latents-' + json.load(
      open(tmp_path / 'me' / 'midime.json'))['latents']['sha256'][:16] +
                                                     '.npz']


def test_load_with_another_checkpoint_is_refused(personalizer, tmp_path):
  personalizer.save(str(tmp_path / 'me'))
  with pytest.raises(run_lib.ModelMismatchError,
                     match='trained for config cat-mel_2bar_small, not tiny'):
    personalizer_lib.Personalizer.load(
        str(tmp_path / 'me'), testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
        config=testdata_lib.tiny_config('tiny-mel_2bar'))


def test_untrained_personalizer_says_what_to_do(tiny_mel):
  with pytest.raises(errors.UsageError, match='call train'):
    personalizer_lib.Personalizer(testdata_lib.tiny_config('tiny-mel_2bar'), music_vae=tiny_mel).sample(
        1)


def test_a_bad_file_in_a_folder_is_skipped_with_its_reason(tiny_mel,
                                                           tmp_path):
  (tmp_path / 'a.mid').write_bytes(open(REEL, 'rb').read())
  (tmp_path / 'b.mid').write_text('not midi')
  os.mkfifo(tmp_path / 'c.mid')  # Would block a reader forever.
  p = personalizer_lib.Personalizer(testdata_lib.tiny_config('tiny-mel_2bar'), music_vae=tiny_mel)
  chunked = {os.path.basename(c.source): c for c in p.chunk(str(tmp_path))}
  assert {k: c.num_chunks for k, c in chunked.items()} == {
      'a.mid': 8, 'b.mid': 0, 'c.mid': 0}
  assert 'not a MIDI file' in chunked['b.mid'].reason
  assert 'not a regular file' in chunked['c.mid'].reason


def test_before_training_an_untrained_midime_loses_the_tune(personalizer):
  """The demo's "before": an untrained MidiMe's reconstruction is far from
  MusicVAE's own; the trained one's is close (same chunks, greedy)."""
  def notes(sequences):
    return [{(n.pitch, round(n.start_time, 2)) for n in ns.notes}
            for ns in sequences]

  def overlap(a, b):
    return sum(len(x & y) for x, y in zip(a, b)) / sum(len(x) for x in a)

  weights = [w.copy() for w in personalizer.midime.get_weights()]
  alone = notes(personalizer.decode(personalizer.latents_of(), 0))
  after = notes(personalizer.reconstruct(temperature=0))
  before = notes(personalizer.reconstruct(temperature=0, untrained_seed=0))
  assert before == notes(personalizer.reconstruct(REEL, 0, untrained_seed=0))
  assert overlap(alone, after) > 0.8 > 0.4 > overlap(alone, before), (
      overlap(alone, after), overlap(alone, before))
  assert all(np.array_equal(w, v) for w, v in zip(
      weights, personalizer.midime.get_weights()))  # The trained one kept.
  with pytest.raises(errors.UsageError, match='untrained_seed'):
    personalizer.reconstruct(untrained_seed=-1)
