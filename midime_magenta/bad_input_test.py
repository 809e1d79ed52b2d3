"""The bad-input corpus: both scripts, run for real, on every way input goes wrong.

Each case must end with a non-zero exit, exactly one error line naming the
cause, no traceback, and no change to any file that existed before. Cases run
two at a time (the machine has 2 cores); each is its own subprocess.
"""

import concurrent.futures
import hashlib
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from midime_magenta import midime_model
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import music_vae_lib
from midime_magenta import run_lib
from midime_magenta import testdata_lib

BAD = testdata_lib.testdata_path('bad')
GOOD = testdata_lib.testdata_path('reel_4-4.mid')
TINY = testdata_lib.tiny_checkpoint('tiny-mel_2bar')


def _bad(name):
  return os.path.join(BAD, name)


# (case id, script, flag overrides, phrases the error line must contain).
# {ws} is the case's workspace folder (see `workspace`).
CASES = [
    ('missing_file', 'train', {'input_midi': '{ws}/no/such/tune.mid'},
     ['does not exist']),
    ('text_named_mid', 'train', {'input_midi': _bad('text_named.mid')},
     ['not a MIDI file']),
    ('empty_file', 'train', {'input_midi': _bad('empty.mid')},
     ['not a MIDI file']),
    ('truncated_midi', 'train', {'input_midi': _bad('truncated.mid')},
     ['damaged MIDI file']),
    ('no_notes', 'train', {'input_midi': _bad('no_notes.mid')},
     ['has no notes']),
    ('drums_only', 'train',
     {'input_midi': testdata_lib.testdata_path('drums_only.mid')},
     ['only drums', 'need a melody']),
    ('run_dir_of_other_files', 'train', {'run_dir': '{ws}/users_folder'},
     ['holds other files', 'no MidiMe run']),
    ('shorter_than_a_chunk', 'train', {'input_midi': _bad('one_bar.mid')},
     ['shorter than one 2-bar chunk']),
    ('tempo_change_every_bar', 'train',
     {'input_midi': _bad('tempo_every_bar.mid')}, ['7 tempo changes']),
    ('all_notes_out_of_range', 'train', {'input_midi': _bad('out_of_range.mid')},
     ['all 32 notes', 'outside the model\'s pitch range']),
    ('melody_too_sparse', 'train', {'input_midi': _bad('sparse_melody.mid')},
     ['unbroken melody']),
    ('empty_directory', 'train', {'input_midi': '{ws}/empty_dir'},
     ['holds no .mid']),
    ('glob_matches_nothing', 'train', {'input_midi': '{ws}/empty_dir/*.mid'},
     ['No file matches']),
    ('wrong_config_for_checkpoint', 'train', {'config': 'cat-mel_2bar_small'},
     ['does not fit config cat-mel_2bar_small', '--config=tiny-mel_2bar']),
    ('directory_with_several_checkpoints', 'train',
     {'checkpoint_file': '{ws}/several'}, ['several checkpoints']),
    ('checkpoint_not_a_tar', 'train', {'checkpoint_file': _bad('not_a_tar.tar')},
     ['No MusicVAE checkpoint']),
    ('checkpoint_missing', 'train', {'checkpoint_file': '{ws}/no_ckpt'},
     ['No MusicVAE checkpoint']),
    ('nan_losses', 'train', {'hparams': 'learning_rate=1e9'},
     ['diverged', 'lower the learning rate']),
    ('unknown_config', 'train', {'config': 'mel_2bar'},
     ['Unknown config "mel_2bar"']),
    ('malformed_config_file', 'train', {'config': _bad('bad_config.json')},
     ['not readable JSON']),
    ('unparsable_hparams', 'train', {'hparams': 'latent_size'},
     ['cannot parse hparam']),
    ('zero_epochs', 'train', {'num_epochs': '0'},
     ['--num_epochs must be at least 1']),
    ('run_dir_under_a_file', 'train', {'run_dir': '{ws}/a_file/run'},
     ['Cannot create --run_dir']),
    ('missing_instrument', 'train', {'instrument': '7'},
     ['no pitched instrument 7']),
    ('run_dir_without_model', 'generate', {'run_dir': '{ws}/empty_dir'},
     ['no MidiMe model']),
    ('corrupt_model_file', 'generate', {'run_dir': '{ws}/corrupt_run'},
     ['damaged']),
    ('corrupt_weights', 'generate', {'run_dir': '{ws}/bad_weights_run'},
     ['missing or damaged']),
    ('model_for_another_config', 'generate', {'run_dir': '{ws}/drums_run'},
     ['trained for config tiny-drums_2bar']),
    ('model_for_another_checkpoint', 'generate',
     {'checkpoint_file': '{ws}/retrained_ckpt'},
     ['trained on MusicVAE tiny-mel_2bar', 'not on the tiny-mel_2bar']),
    ('unwritable_output_dir', 'generate', {'output_dir': '{ws}/a_file/out'},
     ['cannot be created']),
    ('zero_outputs', 'generate', {'num_outputs': '0'},
     ['--num_outputs=0', 'range [1, 100000]']),
    ('negative_outputs', 'generate', {'num_outputs': '-2'},
     ['--num_outputs=-2', 'range [1, 100000]']),
    ('unknown_mode', 'generate', {'mode': 'remix'},
     ['--mode', 'sample']),
    ('negative_temperature', 'generate', {'temperature': '-1'},
     ['--temperature must be a positive']),
    ('interpolate_without_inputs', 'generate', {'mode': 'interpolate'},
     ['needs --input_midi_1 and --input_midi_2']),
    ('interpolate_drums_only', 'generate',
     {'mode': 'interpolate', 'input_midi_1': GOOD,
      'input_midi_2': testdata_lib.testdata_path('drums_only.mid')},
     ['only drums']),
]


def _snapshot(*roots):
  state = {}
  for root in roots:
    for folder, _, files in os.walk(root):
      for name in files:
        path = os.path.join(folder, name)
        with open(path, 'rb') as f:
          state[path] = hashlib.sha256(f.read()).hexdigest()
  return state


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
  """Models, checkpoints and odd paths the cases point at."""
  ws = tmp_path_factory.mktemp('ws')
  (ws / 'empty_dir').mkdir()
  (ws / 'a_file').write_text('a file where a folder should be')
  (ws / 'users_folder').mkdir()
  (ws / 'users_folder' / 'weights-best.npz').write_bytes(b'their weights')
  several = ws / 'several'
  several.mkdir()
  for step in (1, 2):
    for suffix in ('.index', '.data-00000-of-00001'):
      shutil.copy(os.path.join(TINY, 'model.ckpt' + suffix),
                  several / f'model.ckpt-{step}{suffix}')
  vae = music_vae_lib.load_music_vae('tiny-mel_2bar', TINY, batch_size=8)
  p = personalizer_lib.Personalizer('tiny-mel_2bar', music_vae=vae)
  p.train(GOOD, epochs=2, seed=0)
  p.save(str(ws / 'good_run'))
  shutil.copytree(ws / 'good_run', ws / 'corrupt_run')
  (ws / 'corrupt_run' / 'midime.json').write_text('{"format": "midime_magen')
  shutil.copytree(ws / 'good_run', ws / 'bad_weights_run')
  for f in (ws / 'bad_weights_run').glob('weights-*.npz'):
    f.write_bytes(f.read_bytes()[:100])
  drums = personalizer_lib.Personalizer(
      'tiny-drums_2bar', music_vae=music_vae_lib.load_music_vae(
          'tiny-drums_2bar', testdata_lib.tiny_checkpoint('tiny-drums_2bar'),
          8))
  drums.train(testdata_lib.testdata_path('drums_only.mid'), epochs=2, seed=0)
  drums.save(str(ws / 'drums_run'))
  # Same shapes as the tiny checkpoint, other weights: another fingerprint.
  reader = tf.train.load_checkpoint(os.path.join(TINY, 'model.ckpt'))
  names = sorted(reader.get_variable_to_shape_map())
  (ws / 'retrained_ckpt').mkdir()
  tf.raw_ops.SaveV2(
      prefix=str(ws / 'retrained_ckpt' / 'model.ckpt'), tensor_names=names,
      shape_and_slices=[''] * len(names),
      tensors=[reader.get_tensor(n) + (0.01 if 'bias' in n else 0)
               for n in names])
  return ws


def _command(script, overrides, ws, case_id):
  if script == 'train':
    flags = {'config': 'tiny-mel_2bar', 'checkpoint_file': TINY,
             'input_midi': GOOD, 'run_dir': f'{ws}/runs/{case_id}',
             'num_epochs': '200'}
  else:
    flags = {'config': 'tiny-mel_2bar', 'checkpoint_file': TINY,
             'run_dir': f'{ws}/good_run', 'output_dir': f'{ws}/out/{case_id}',
             'mode': 'sample'}
  flags.update(overrides)
  args = [f'--{k}={str(v).replace("{ws}", str(ws))}' for k, v in flags.items()]
  return ('midime_train' if script == 'train' else 'midime_generate'), args


@pytest.fixture(scope='module')
def outcomes(workspace):
  """Runs every case, two at a time; returns results and snapshots."""
  before = _snapshot(str(workspace), BAD)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {
        case_id: pool.submit(testdata_lib.run_installed_script,
                             *_command(script, overrides, workspace, case_id)[:1],
                             *_command(script, overrides, workspace, case_id)[1])
        for case_id, script, overrides, _ in CASES}
    results = {case_id: f.result() for case_id, f in futures.items()}
  return results, before, _snapshot(str(workspace), BAD)


def test_corpus_is_large_enough():
  assert len(CASES) >= 25
  assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize('case_id, script, overrides, phrases', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line(outcomes, case_id, script, overrides,
                                       phrases):
  del script, overrides
  result = outcomes[0][case_id]
  assert result.returncode != 0, result.stderr
  assert 'Traceback' not in result.stderr, result.stderr
  errors = testdata_lib.error_lines(result.stderr)
  assert len(errors) == 1, result.stderr
  for phrase in phrases:
    assert phrase in errors[0], errors[0]


def test_no_existing_file_was_changed(outcomes, workspace):
  _, before, after = outcomes
  changed = [p for p in before if after.get(p) != before[p]]
  assert not changed
  assert not os.path.exists(workspace / 'runs'), os.listdir(workspace / 'runs')
  outs = workspace / 'out'
  assert not outs.exists() or not any(
      files for _, _, files in os.walk(outs))


def test_bad_model_files_are_refused_in_python_too(workspace):
  with pytest.raises(run_lib.ModelFileError):
    midime_model.MidiMe.load(str(workspace / 'corrupt_run'))
  assert np.all(np.isfinite(midime_model.MidiMe.load(
      str(workspace / 'good_run')).sample(2, seed=0)))
