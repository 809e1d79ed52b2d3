"""midime_train run for real, in subprocesses, on real MIDI and checkpoints."""

import json
import os

import numpy as np
import pytest

from midime_magenta import midime_model
from midime_magenta import testdata_lib

run = testdata_lib.run_console_script
REEL = testdata_lib.testdata_path('reel_4-4.mid')
TINY_MEL = ['--config=tiny-mel_2bar',
            '--checkpoint_file=' + testdata_lib.tiny_checkpoint('tiny-mel_2bar')]


def _official(checkpoint):
  return ['--config=cat-mel_2bar_small', f'--checkpoint_file={checkpoint}']


def _summary(run_dir):
  with open(os.path.join(run_dir, 'summary.json'), encoding='utf-8') as f:
    return json.load(f)


def _assert_clean_failure(result, *phrases):
  assert result.returncode != 0, result.stderr
  assert 'Traceback' not in result.stderr
  errors = testdata_lib.error_lines(result.stderr)
  assert len(errors) == 1, result.stderr
  for phrase in phrases:
    assert phrase in errors[0], errors[0]
  return errors[0]


def test_trains_on_one_melody_and_writes_everything(mel_2bar_small_checkpoint,
                                                    tmp_path):
  run_dir = str(tmp_path / 'run')
  result = run('midime_train', *_official(mel_2bar_small_checkpoint),
               f'--input_midi={REEL}', f'--run_dir={run_dir}', '--num_epochs=20')
  assert result.returncode == 0, result.stderr
  assert 'reel_4-4.mid: 15 chunks' in result.stderr
  names = set(os.listdir(run_dir))
  assert {'midime.json', 'training_latents.npz', 'summary.json', 'loss.png',
          'train'} <= names
  assert any(n.startswith('weights-') for n in names)
  assert os.listdir(os.path.join(run_dir, 'train'))[0].startswith('events.')
  summary = _summary(run_dir)
  assert summary['num_chunks'] == 15 and summary['epochs'] == 20
  assert set(summary['seconds']) >= {'encoding', 'training', 'total'}
  with np.load(os.path.join(run_dir, 'training_latents.npz')) as data:
    assert data['z'].shape == (15, 256)
    assert data['chunks'].shape == (15, 32, 90)
  model = midime_model.MidiMe.load(run_dir)
  assert model.music_vae['config'] == 'cat-mel_2bar_small'
  assert not [n for n in names if 'tmp' in n or 'partial' in n]


def test_multi_instrument_file_uses_the_melody_track(mel_2bar_small_checkpoint,
                                                     tmp_path):
  chorale = testdata_lib.testdata_path('chorale_satb.mid')
  run_dir = str(tmp_path / 'run')
  result = run('midime_train', *_official(mel_2bar_small_checkpoint),
               f'--input_midi={chorale}', f'--run_dir={run_dir}',
               '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  assert 'melody from instrument 0' in result.stderr
  assert _summary(run_dir)['inputs'][0]['instrument'] == 0
  forced = run('midime_train', *_official(mel_2bar_small_checkpoint),
               f'--input_midi={chorale}', f'--run_dir={tmp_path / "bass"}',
               '--num_epochs=5', '--instrument=3')
  assert forced.returncode == 0, forced.stderr
  assert _summary(str(tmp_path / 'bass'))['inputs'][0]['instrument'] == 3


def test_directory_of_tunes(tmp_path):
  run_dir = str(tmp_path / 'run')
  folk = testdata_lib.testdata_path('folk')
  result = run('midime_train', *TINY_MEL, f'--input_midi={folk},{REEL}',
               f'--run_dir={run_dir}', '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  summary = _summary(run_dir)
  assert len(summary['inputs']) == 11
  assert all(i['chunks'] > 0 for i in summary['inputs'])


def test_three_four_tune_is_refused_with_the_reason(tmp_path):
  waltz = testdata_lib.testdata_path('waltz_3-4.mid')
  result = run('midime_train', *TINY_MEL, f'--input_midi={waltz}',
               f'--run_dir={tmp_path / "run"}')
  _assert_clean_failure(result, 'waltz_3-4.mid gave no 2-bar chunks',
                        'in 3/4', 'only 4/4')
  assert not os.path.exists(tmp_path / 'run' / 'midime.json')


def test_existing_model_is_not_replaced_without_overwrite(tmp_path):
  run_dir = str(tmp_path / 'run')
  args = [*TINY_MEL, f'--input_midi={REEL}', f'--run_dir={run_dir}',
          '--num_epochs=3']
  assert run('midime_train', *args).returncode == 0
  before = open(os.path.join(run_dir, 'midime.json'), 'rb').read()
  _assert_clean_failure(run('midime_train', *args), 'already holds a MidiMe',
                        '--overwrite')
  assert open(os.path.join(run_dir, 'midime.json'), 'rb').read() == before
  assert run('midime_train', *args, '--overwrite').returncode == 0


def test_drums_config_on_drums(tmp_path):
  drums = testdata_lib.testdata_path('drums_only.mid')
  result = run('midime_train', '--config=tiny-drums_2bar',
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-drums_2bar'),
               f'--input_midi={drums}', f'--run_dir={tmp_path / "run"}',
               '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  assert _summary(str(tmp_path / 'run'))['num_chunks'] >= 1


def test_trio_config_on_a_trio(tmp_path):
  trio = testdata_lib.make_trio_midi(str(tmp_path / 'trio.mid'))
  result = run('midime_train', '--config=tiny-trio_16bar',
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-trio_16bar'),
               f'--input_midi={trio}', f'--run_dir={tmp_path / "run"}',
               '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  summary = _summary(str(tmp_path / 'run'))
  assert summary['num_chunks'] >= 1 and summary['epochs'] == 5


@pytest.mark.parametrize('args, phrases', [
    (['--config=no-such'], ['Unknown config "no-such"', 'cat-mel_2bar_small']),
    (['--num_epochs=0'], ['--num_epochs must be at least 1']),
    (['--hparams=latent_size=zero'], ['latent_size needs an integer']),
    (['--latent_size=abc'], ['latent_size']),
    (['--input_midi=/no/such.mid'], ['/no/such.mid does not exist']),
])
def test_bad_flags_get_one_line(tmp_path, args, phrases):
  base = {'--config': TINY_MEL[0], '--checkpoint_file': TINY_MEL[1],
          '--input_midi': f'--input_midi={REEL}',
          '--run_dir': f'--run_dir={tmp_path / "run"}'}
  for arg in args:
    base[arg.split('=')[0]] = arg
  _assert_clean_failure(run('midime_train', *base.values()), *phrases)


def test_missing_required_flag(tmp_path):
  _assert_clean_failure(
      run('midime_train', *TINY_MEL, f'--run_dir={tmp_path}'),
      '--input_midi is required')
