"""Tests for Personalizer: MIDI paths in, NoteSequences out, on real models."""

import note_seq
import numpy as np
import pytest

from midime_magenta import chunking_lib
from midime_magenta import midime_model
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


@pytest.fixture(scope='module')
def personalizer(mel_2bar_small):
  p = personalizer_lib.Personalizer(mel_2bar_small)
  p.history = p.train(REEL, epochs=100, seed=0)
  return p


def _notes_ok(sequences, n):
  assert len(sequences) == n
  assert all(isinstance(s, note_seq.NoteSequence) for s in sequences)
  assert all(0 < s.total_time <= 4.0 + 1e-6 for s in sequences if s.notes)
  assert sum(len(s.notes) for s in sequences) > 0


def test_train_from_a_midi_path(personalizer):
  assert personalizer.training_z.shape == (15, 256)
  assert [c.num_chunks for c in personalizer.training_chunks] == [15]
  assert len(personalizer.history['loss']) == 100


def test_sample_reconstruct_interpolate_traverse(personalizer):
  _notes_ok(personalizer.sample(4, seed=1), 4)
  _notes_ok(personalizer.sample_prior(3, seed=1), 3)
  _notes_ok(personalizer.reconstruct(), 15)
  _notes_ok(personalizer.reconstruct(REEL), 15)
  folk = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')
  _notes_ok(personalizer.interpolate(REEL, folk, steps=5), 5)
  _notes_ok(personalizer.traverse(2, values=[-1.0, 0.0, 1.0]), 3)
  with pytest.raises(ValueError, match='dimension must be in'):
    personalizer.traverse(4)


def test_inputs_without_chunks_say_why(personalizer):
  with pytest.raises(chunking_lib.NoChunksError, match='3/4'):
    personalizer.reconstruct(testdata_lib.testdata_path('waltz_3-4.mid'))


def test_save_and_load_with_the_same_checkpoint(personalizer,
                                                mel_2bar_small_checkpoint,
                                                tmp_path):
  personalizer.save(str(tmp_path / 'me'))
  loaded = personalizer_lib.Personalizer.load(str(tmp_path / 'me'),
                                              mel_2bar_small_checkpoint)
  z = personalizer.training_z
  np.testing.assert_array_equal(loaded.midime.reconstruct(z),
                                personalizer.midime.reconstruct(z))


def test_load_with_another_checkpoint_is_refused(personalizer, tmp_path):
  personalizer.save(str(tmp_path / 'me'))
  with pytest.raises(midime_model.ModelMismatchError,
                     match='trained on MusicVAE cat-mel_2bar_small'):
    personalizer_lib.Personalizer.load(
        str(tmp_path / 'me'), testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
        config='tiny-mel_2bar')


def test_untrained_personalizer_says_what_to_do(tiny_mel):
  with pytest.raises(ValueError, match='call train'):
    personalizer_lib.Personalizer(tiny_mel).sample(1)
