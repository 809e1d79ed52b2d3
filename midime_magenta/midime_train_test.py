"""midime_train run for real, in subprocesses, on real MIDI and checkpoints."""

import json
import os
import subprocess
import sys
import time

import pytest

from midime_magenta import run_lib
from midime_testing import testdata_lib
from midime_testing import warm_scripts


def _load_model(path, expect_music_vae=None):
  """The MidiMe of a run folder."""
  return run_lib.load_run(path, expect_music_vae)[0]

# Scripts run in one warm process (warm_scripts); a test that checks what
# start-up prints runs its script cold.
run = warm_scripts.run
cold = testdata_lib.run_installed_script
REEL = testdata_lib.testdata_path('reel_4-4.mid')
TINY_MEL = ['--config=' + testdata_lib.tiny_config('tiny-mel_2bar'),
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
  spans_file = tmp_path / 'spans.json'
  result = cold('midime_train', *_official(mel_2bar_small_checkpoint),
                f'--input_midi={REEL}', f'--run_dir={run_dir}',
                '--num_epochs=20', env={'MIDIME_SPANS': str(spans_file)})
  assert result.returncode == 0, result.stderr
  assert "reel_4-4.mid': 8 chunks" in result.stderr
  # Our own lines only: no library warning, native log line or traceback
  # (TensorFlow's start-up and first-graph lines, matplotlib's font cache).
  assert not testdata_lib.foreign_lines(result.stderr), result.stderr
  names = set(os.listdir(run_dir))
  assert {'midime.json', 'summary.json', 'loss.png', 'train'} <= names
  assert len([n for n in names if n.startswith('weights-')]) == 1
  assert len([n for n in names if n.startswith('latents-')]) == 1
  assert os.listdir(os.path.join(run_dir, 'train'))[0].startswith('events.')
  summary = _summary(run_dir)
  assert summary['num_chunks'] == 8 and summary['epochs'] == 20
  assert set(summary['seconds']) >= {'chunking', 'checkpoint check',
                                     'MusicVAE graph + restore', 'encoding',
                                     'MidiMe set-up', 'training'}
  # The whole run's phases, measured, add up to the process's age.
  spans = json.loads(spans_file.read_text(encoding='utf-8'))
  assert set(spans['spans']) >= {'interpreter start-up', 'imports', 'saving',
                                 *summary['seconds']}
  assert abs(sum(spans['spans'].values()) - spans['process_seconds']) < 0.05
  assert spans['spans']['training'] == pytest.approx(
      summary['seconds']['training'])
  _, data, _ = run_lib.load_run(run_dir)
  assert data.z.shape == (8, 256) and data.chunks.shape == (8, 32, 90)
  assert data.starts == [4.0 * i for i in range(8)]
  model = _load_model(run_dir)
  assert model.music_vae['config'] == 'cat-mel_2bar_small'
  assert not [n for n in names if 'tmp' in n or 'partial' in n or
              n.startswith('.')]


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


def test_three_four_tune_trains_with_a_warning(tmp_path):
  waltz = testdata_lib.testdata_path('waltz_3-4.mid')
  result = run('midime_train', *TINY_MEL, f'--input_midi={waltz}',
               f'--run_dir={tmp_path / "run"}', '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  assert 'it is in 3/4' in result.stderr
  assert 'bar lines will not align' in result.stderr
  assert _summary(str(tmp_path / 'run'))['num_chunks'] > 0


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
  result = run('midime_train', '--config=' + testdata_lib.tiny_config('tiny-drums_2bar'),
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-drums_2bar'),
               f'--input_midi={drums}', f'--run_dir={tmp_path / "run"}',
               '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  assert _summary(str(tmp_path / 'run'))['num_chunks'] >= 1


def test_trio_config_on_a_trio(tmp_path):
  trio = testdata_lib.make_trio_midi(str(tmp_path / 'trio.mid'))
  result = run('midime_train', '--config=' + testdata_lib.tiny_config('tiny-trio_16bar'),
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-trio_16bar'),
               f'--input_midi={trio}', f'--run_dir={tmp_path / "run"}',
               '--num_epochs=5')
  assert result.returncode == 0, result.stderr
  summary = _summary(str(tmp_path / 'run'))
  assert summary['num_chunks'] >= 1 and summary['epochs'] == 5


# Bad flags and inputs: see bad_input_test.py, which runs the whole corpus.


def _write_long_tune(path, minutes=20):
  """The reel repeated for `minutes`, each pass transposed, so windows differ."""
  import note_seq  # pylint: disable=g-import-not-at-top
  from midime_magenta import midi_io  # pylint: disable=g-import-not-at-top
  reel = midi_io.read_midi_file(REEL)
  notes = list(reel.notes)
  del reel.notes[:]
  passes = int(minutes * 60 // 32)
  for k in range(passes):
    shift = k - passes // 2  # Every pass distinct, so no window repeats.
    for n in notes:
      reel.notes.add(pitch=n.pitch + shift, velocity=n.velocity,
                     start_time=n.start_time + 32 * k,
                     end_time=n.end_time + 32 * k)
  reel.total_time = 32.0 * passes
  note_seq.sequence_proto_to_midi_file(reel, path)
  return path


def test_twenty_minute_file_trains_with_progress(tmp_path):
  tune = _write_long_tune(str(tmp_path / 'long.mid'))
  result = run('midime_train', *TINY_MEL, f'--input_midi={tune}',
               f'--run_dir={tmp_path / "run"}', '--num_epochs=30')
  assert result.returncode == 0, result.stderr
  summary = _summary(str(tmp_path / 'run'))
  assert summary['num_chunks'] > 256  # 296 windows of 2 bars.
  # Not a terminal: progress comes as log lines, while encoding and training.
  assert 'Encoding chunks: 256 of ' in result.stderr
  assert 'Training MidiMe: 30 of 30 epochs' in result.stderr


def test_a_terminal_shows_moving_progress_bars(tmp_path):
  """In a pseudo-terminal (`script`), tqdm draws and redraws its bars."""
  import shlex  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  tune = _write_long_tune(str(tmp_path / 'long.mid'))
  command = shlex.join([
      os.path.join(os.path.dirname(sys.executable), 'midime_train'),
      *TINY_MEL, f'--input_midi={tune}', f'--run_dir={tmp_path / "run"}',
      '--num_epochs=300', '--encode_batch_size=64'])
  # tqdm redraws at most every 0.1 s; on a fast machine all of encoding fits
  # in that. Every update is drawn here, whatever the machine's speed.
  result = subprocess.run(['script', '-qefc', command, '/dev/null'],
                          capture_output=True, timeout=600, check=False,
                          env=dict(os.environ, TQDM_MININTERVAL='0'))
  # Bytes: text mode would turn every carriage return into a newline.
  screen = result.stdout.decode('utf-8', 'replace')
  assert result.returncode == 0, screen[-2000:]
  for bar in ('Encoding chunks', 'Training MidiMe'):
    frames = [f for f in screen.split('\r') if f.lstrip().startswith(bar)]
    assert len(frames) >= 3, screen[-2000:]  # Drawn, then redrawn.
    assert '100%|' in frames[-1], frames[-1]
    assert len({f.split('|')[0] for f in frames}) >= 2  # It moved.


def test_out_of_range_notes_and_a_tempo_change_still_train(tmp_path):
  import note_seq  # pylint: disable=g-import-not-at-top
  from midime_magenta import midi_io  # pylint: disable=g-import-not-at-top
  ns = midi_io.read_midi_file(REEL)
  ns.notes[3].pitch = 12
  ns.notes[7].pitch = 115
  ns.tempos.add(time=16.0, qpm=100.0)  # Halfway: MusicVAE splits here.
  path = str(tmp_path / 'odd.mid')
  note_seq.sequence_proto_to_midi_file(ns, path)
  result = run('midime_train', *TINY_MEL, f'--input_midi={path}',
               f'--run_dir={tmp_path / "run"}', '--num_epochs=3')
  assert result.returncode == 0, result.stderr
  assert 'dropped 2 notes outside the model\'s pitch range' in result.stderr
  assert _summary(str(tmp_path / 'run'))['num_chunks'] > 0


def _start_training(run_dir, *extra):
  """Starts midime_train with many epochs; returns once training runs."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  proc = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'midime_train'),
       *TINY_MEL, f'--input_midi={REEL}', f'--run_dir={run_dir}',
       '--num_epochs=1000000', *extra],
      stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
      preexec_fn=_ctrl_c_as_in_a_terminal)
  seen = []
  for line in proc.stderr:
    seen.append(line)
    if 'Training MidiMe: 1 of 1000000' in line:
      return proc, seen
  raise AssertionError(''.join(seen))


def _model_files(run_dir):
  return {n: open(os.path.join(run_dir, n), 'rb').read()
          for n in os.listdir(run_dir)
          if n == 'midime.json' or n.startswith('weights-')}


@pytest.mark.parametrize('how', ['SIGTERM', 'SIGKILL'])
def test_kill_during_training_keeps_the_previous_model(tmp_path, how):
  import signal  # pylint: disable=g-import-not-at-top
  run_dir = str(tmp_path / 'run')
  first = run('midime_train', *TINY_MEL, f'--input_midi={REEL}',
              f'--run_dir={run_dir}', '--num_epochs=3', '--seed=1')
  assert first.returncode == 0, first.stderr
  before = _model_files(run_dir)
  proc, _ = _start_training(run_dir, '--overwrite')
  proc.send_signal(getattr(signal, how))
  proc.wait(timeout=60)
  assert proc.returncode != 0
  assert _model_files(run_dir) == before
  assert _load_model(run_dir).training_summary['epochs'] == 3


def test_ctrl_c_saves_the_model_trained_so_far(tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  run_dir = str(tmp_path / 'run')
  proc, _ = _start_training(run_dir)
  time.sleep(1.0)
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=60)
  assert proc.returncode == 130, stderr
  assert 'Traceback' not in stderr
  assert 'Interrupted: saved the model trained for' in stdout
  summary = _summary(run_dir)
  assert summary['interrupted'] and 0 < summary['epochs'] < 1000000
  model = _load_model(run_dir)
  assert model.training_summary['epochs'] == summary['epochs']


def test_two_runs_into_one_run_dir_cannot_both_write(tmp_path):
  run_dir = str(tmp_path / 'run')
  proc, _ = _start_training(run_dir)
  try:
    second = run('midime_train', *TINY_MEL, f'--input_midi={REEL}',
                 f'--run_dir={run_dir}', '--num_epochs=3')
    _assert_clean_failure(second, 'Another process', str(proc.pid))
  finally:
    proc.kill()
    proc.wait()


def test_a_folder_of_someone_elses_files_is_refused(tmp_path):
  mine = tmp_path / 'mine'
  mine.mkdir()
  (mine / 'summary.json').write_text('my own')
  (mine / 'weights-best.npz').write_bytes(b'my weights')
  result = run('midime_train', *TINY_MEL, f'--input_midi={REEL}',
               f'--run_dir={mine}', '--num_epochs=3', '--overwrite')
  _assert_clean_failure(result, 'holds other files', 'no MidiMe run')
  assert sorted(os.listdir(mine)) == ['summary.json', 'weights-best.npz']
  assert (mine / 'weights-best.npz').read_bytes() == b'my weights'


def test_overwrite_replaces_the_tensorboard_events(tmp_path):
  run_dir = str(tmp_path / 'run')
  args = [*TINY_MEL, f'--input_midi={REEL}', f'--run_dir={run_dir}']
  assert run('midime_train', *args, '--num_epochs=3').returncode == 0
  assert run('midime_train', *args, '--num_epochs=5',
             '--overwrite').returncode == 0
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  events = os.listdir(os.path.join(run_dir, 'train'))
  assert len(events) == 1
  steps = [v.step for e in tf.compat.v1.train.summary_iterator(
      os.path.join(run_dir, 'train', events[0]))
           for v in [e] if e.summary.value and
           e.summary.value[0].tag == 'loss/total']
  assert steps == [1, 2, 3, 4, 5]


@pytest.mark.parametrize('delay', [1.0, 2.0])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, delay):
  """Ctrl-C while TensorFlow still imports (it takes 3-5 s here): exit 130,
  one line, no trace. (It once came out as numpy's ImportError.)"""
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  proc = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'midime_train'),
       *TINY_MEL, f'--input_midi={REEL}', f'--run_dir={tmp_path / "run"}'],
      stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
      preexec_fn=_ctrl_c_as_in_a_terminal)
  time.sleep(delay)
  proc.send_signal(signal.SIGINT)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr
  assert 'Traceback' not in stderr and 'KeyboardInterrupt' not in stderr
  assert testdata_lib.error_lines(stderr) == [
      'midime_train: error: Interrupted; nothing was left half-written.']
  assert not os.path.exists(tmp_path / 'run')


def _ctrl_c_as_in_a_terminal():
  """In the child: Ctrl-C as a terminal delivers it. Test runners (xdist
  workers) may ignore SIGINT, and children inherit that."""
  import signal  # pylint: disable=g-import-not-at-top
  signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_bare_official_checkpoint_trains_without_config(
    mel_2bar_small_checkpoint, tmp_path):
  run_dir = str(tmp_path / 'run')
  result = run('midime_train', f'--checkpoint_file={mel_2bar_small_checkpoint}',
               f'--input_midi={REEL}', f'--run_dir={run_dir}',
               '--num_epochs=3')
  assert result.returncode == 0, result.stderr
  assert 'read as a cat-mel_2bar_small checkpoint' in result.stderr
  assert _load_model(run_dir).music_vae['config'] == 'cat-mel_2bar_small'


@pytest.mark.parametrize('script, args, phrase', [
    ('midime_train', ['--input_midi=missing.mid', '--run_dir=run'],
     "'missing.mid' does not"),
    ('midime_train', ['--input_midi=' + REEL, '--run_dir=run',
                      '--num_epochs=0'], '--num_epochs must be at least 1'),
    ('midime_train', ['--input_midi=' + REEL, '--run_dir=.'],
     'holds other files'),
    ('midime_generate', ['--run_dir=run', '--output_dir=out'],
     'no MidiMe model in run'),
    ('midime_evaluate', ['--run_dir=run', '--input_midi=' + REEL],
     'no MidiMe model in run'),
    ('midime_constrain', ['--run_dir=run', '--rule=kez:C'],
     "Cannot read rule 'kez:C'"),
])
def test_refusals_come_before_tensorflow_loads(tmp_path, script, args, phrase):
  (tmp_path / 'notes.txt').write_text('mine')
  # A checkpoint that does not exist: nothing may get as far as reading it.
  start = time.monotonic()
  result = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), script),
       '--checkpoint_file=no_such_checkpoint', *args], cwd=tmp_path,
      capture_output=True, text=True, check=False, timeout=120,
      env=dict(os.environ, PYTHONPROFILEIMPORTTIME='1'))
  seconds = time.monotonic() - start
  _assert_clean_failure(result, phrase)
  imported = [line.rsplit('|', 1)[-1].strip()
              for line in result.stderr.splitlines()
              if line.startswith('import time:')]
  assert 'absl.flags' in imported and not [
      m for m in imported if m.startswith(('tensorflow', 'note_seq'))]
  assert seconds < 2  # The bound; about 0.35 s on two idle cores.
