"""midime_generate run for real, beside music_vae_generate, on real models."""

import json
import os
import re
import subprocess
import sys

import note_seq
import numpy as np
import pytest

from midime_magenta import chunking_lib
from midime_magenta import midi_io
from midime_magenta import novelty_lib
from midime_magenta import midime_generate
from midime_magenta import personalizer as personalizer_lib
from midime_testing import testdata_lib
from midime_testing import warm_scripts

# Scripts run in one warm process (warm_scripts); a test that checks what
# start-up prints runs its script cold.
run = warm_scripts.run
cold = testdata_lib.run_installed_script
REEL = testdata_lib.testdata_path('reel_4-4.mid')
FOLK_1 = testdata_lib.testdata_path('folk', '0051-0100_0008.mid')
NAME = re.compile(r'^cat-mel_2bar_small_([\w-]+)_\d{4}-\d\d-\d\d_\d{6}-'
                  r'(\d{3}|concat)-of-(\d{3})\.mid$')


@pytest.fixture(scope='module')
def official_run_dir(mel_2bar_small_checkpoint, tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('run'))
  result = run('midime_train', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               f'--input_midi={REEL}', f'--run_dir={run_dir}', '--overwrite',
               '--seed=0')
  assert result.returncode == 0, result.stderr
  return run_dir


def _generate(checkpoint, run_dir, out, *args):
  return run('midime_generate', '--config=cat-mel_2bar_small',
             f'--checkpoint_file={checkpoint}', f'--run_dir={run_dir}',
             f'--output_dir={out}', *args)


def _check_outputs(out, mode, count, concat=False):
  everything = sorted(os.listdir(out))
  names = [n for n in everything if n.endswith('.mid')]
  # A piano roll beside each MIDI file (on by default), nothing else.
  assert sorted(everything) == sorted(names + [n[:-4] + '.png' for n in names])
  parsed = [NAME.match(n) for n in names]
  assert all(parsed), names
  assert {m.group(1) for m in parsed} == {
      mode if mode == 'prior' else f'midime-{mode}'}
  numbered = [m for m in parsed if m.group(2) != 'concat']
  assert len(numbered) == count
  assert [int(m.group(2)) for m in numbered] == list(range(count))
  assert {int(m.group(3)) for m in parsed} == {count}
  assert sum(m.group(2) == 'concat' for m in parsed) == int(concat)
  sequences = []
  for name in names:
    ns = note_seq.midi_file_to_note_sequence(os.path.join(out, name))
    limit = 4.0 * (count if 'concat' in name else 1) + 1e-3
    assert ns.total_time <= limit, (name, ns.total_time)
    assert all(21 <= n.pitch <= 108 for n in ns.notes)
    sequences.append(ns)
  assert sum(len(s.notes) for s in sequences) > 0
  return sequences


@pytest.mark.parametrize('mode, args, count', [
    ('sample', ['--num_outputs=5', '--concat_outputs'], 5),
    ('prior', ['--num_outputs=3'], 3),
    ('reconstruct', ['--num_outputs=4'], 4),
    ('interpolate', ['--num_outputs=5', f'--input_midi_1={REEL}',
                     f'--input_midi_2={FOLK_1}'], 5),
])
def test_each_mode_writes_its_files(mel_2bar_small_checkpoint,
                                    official_run_dir, tmp_path, mode, args,
                                    count):
  out = tmp_path / 'out'
  result = _generate(mel_2bar_small_checkpoint, official_run_dir, out,
                     f'--mode={mode}', *args)
  assert result.returncode == 0, result.stderr
  assert not testdata_lib.foreign_lines(result.stderr), result.stderr
  _check_outputs(out, mode, count, concat='--concat_outputs' in args)


def test_traverse_walks_every_dimension(mel_2bar_small_checkpoint,
                                        official_run_dir, tmp_path):
  out = tmp_path / 'out'
  result = _generate(mel_2bar_small_checkpoint, official_run_dir, out,
                     '--mode=traverse', '--num_outputs=3')
  assert result.returncode == 0, result.stderr
  for d in range(1, 5):
    sub = tmp_path / f'dim{d}'
    sub.mkdir()
    for name in os.listdir(out):
      if f'traverse-dim{d}_' in name:  # MIDI and piano roll alike.
        os.rename(out / name, sub / name)
    _check_outputs(sub, f'traverse-dim{d}', 3)


def test_never_overwrites_an_existing_file(tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  path = out / 'x-000-of-001.mid'
  path.write_bytes(b'mine')
  ns = note_seq.NoteSequence()
  ns.notes.add(pitch=60, start_time=0, end_time=1, velocity=80)
  written = midime_generate.write_outputs([ns], str(out), 'x-*-of-001.mid')
  assert path.read_bytes() == b'mine'
  assert written == [str(out / 'x-000-of-001-2.mid')]


def test_prior_agrees_with_music_vae_generate(mel_2bar_small_checkpoint,
                                              tmp_path):
  """Same checkpoint, same count: same file pattern, length and pitch range."""
  ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
  result = run('midime_generate', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               '--mode=prior', '--num_outputs=5', f'--output_dir={ours}',
               '--nopiano_rolls')
  assert result.returncode == 0, result.stderr
  magenta = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'music_vae_generate'),
       '--config=cat-mel_2bar_small',
       f'--checkpoint_file={mel_2bar_small_checkpoint}', '--mode=sample',
       '--num_outputs=5', f'--output_dir={theirs}'],
      capture_output=True, text=True, check=False,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  assert magenta.returncode == 0, magenta.stderr[-2000:]
  our_names = sorted(os.listdir(ours))
  their_names = sorted(os.listdir(theirs))
  assert [n.replace('_prior_', '_sample_')[-15:] for n in our_names] == [
      n[-15:] for n in their_names]
  assert [re.sub(r'\d{4}-\d\d-\d\d_\d{6}', 'T', n.replace('_prior_', '_'))
          for n in our_names] == [
              re.sub(r'\d{4}-\d\d-\d\d_\d{6}', 'T', n.replace('_sample_', '_'))
              for n in their_names]
  for folder in (ours, theirs):
    for name in os.listdir(folder):
      ns = note_seq.midi_file_to_note_sequence(os.path.join(folder, name))
      assert ns.total_time <= 4.0 + 1e-3
      assert all(21 <= n.pitch <= 108 for n in ns.notes)


def _assert_one_error(result, *phrases):
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr
  errors = testdata_lib.error_lines(result.stderr)
  assert len(errors) == 1, result.stderr
  for phrase in phrases:
    assert phrase in errors[0], errors[0]


# Other bad flags and model folders: see bad_input_test.py.


def test_checkpoint_of_another_config(official_run_dir, tmp_path):
  result = run('midime_generate', '--config=cat-mel_2bar_small',
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
               f'--run_dir={official_run_dir}',
               f'--output_dir={tmp_path / "o"}')
  _assert_one_error(result, 'does not fit config cat-mel_2bar_small',
                    'matches no known MusicVAE config')


def test_piano_rolls_and_audio_beside_each_midi(mel_2bar_small_checkpoint,
                                                official_run_dir, tmp_path):
  out = tmp_path / 'out'
  result = _generate(mel_2bar_small_checkpoint, official_run_dir, out,
                     '--mode=sample', '--num_outputs=2', '--render_audio')
  assert result.returncode == 0, result.stderr
  assert 'Rendered audio with' in result.stderr
  names = sorted(os.listdir(out))
  stems = {os.path.splitext(n)[0] for n in names}
  assert len(stems) == 2
  for stem in stems:
    assert {f'{stem}.mid', f'{stem}.png', f'{stem}.wav'} <= set(names)


def test_concat_keeps_each_output_in_its_slot(tmp_path):
  sequences = []
  for i in range(3):  # Each output plays one short note early in its chunk.
    ns = note_seq.NoteSequence()
    ns.notes.add(pitch=60 + i, start_time=0.5, end_time=1.0, velocity=80)
    ns.total_time = 1.0
    sequences.append(ns)
  written = midime_generate.write_outputs(
      [chunking_lib.concatenate_in_slots(sequences, 4.0)], str(tmp_path),
      'x-concat-of-003.mid')
  joined = note_seq.midi_file_to_note_sequence(written[-1])
  assert [(n.pitch, n.start_time) for n in joined.notes] == [
      (60, 0.5), (61, 4.5), (62, 8.5)]


def _bar_pitch_melody(path, bars=12):
  """Bar k: four quarter notes of pitch 60 + 2k, at 120 qpm in 4/4."""
  ns = note_seq.NoteSequence()
  ns.tempos.add(qpm=120)
  ns.time_signatures.add(numerator=4, denominator=4)
  for k in range(bars):
    for beat in range(4):
      start = 2.0 * k + 0.5 * beat
      ns.notes.add(pitch=60 + 2 * k, velocity=80, start_time=start,
                   end_time=start + 0.5)
  ns.total_time = 2.0 * bars
  note_seq.sequence_proto_to_midi_file(ns, path)
  return path


def _spearman(a, b):
  rank = lambda x: np.argsort(np.argsort(x))  # pylint: disable=g-long-lambda
  return float(np.corrcoef(rank(a), rank(b))[0, 1])


def test_reconstruction_keeps_the_input_order(mel_2bar_small_checkpoint,
                                              tmp_path):
  """Train on a 12-bar melody with one pitch per bar; reconstruct in order."""
  melody = _bar_pitch_melody(str(tmp_path / 'steps.mid'))
  run_dir = str(tmp_path / 'run')
  trained = run('midime_train', '--config=cat-mel_2bar_small',
                f'--checkpoint_file={mel_2bar_small_checkpoint}',
                f'--input_midi={melody}', f'--run_dir={run_dir}', '--seed=0',
                '--num_epochs=300', '--hop_bars=1')
  assert trained.returncode == 0, trained.stderr
  out = tmp_path / 'out'
  result = _generate(mel_2bar_small_checkpoint, run_dir, out,
                     '--mode=reconstruct', '--num_outputs=11',
                     '--concat_outputs', '--temperature=0.1', '--seed=0')
  assert result.returncode == 0, result.stderr
  concat = [n for n in os.listdir(out) if '-concat-' in n and
            n.endswith('.mid')]
  joined = note_seq.midi_file_to_note_sequence(str(out / concat[0]))
  # Slot i (4 s) holds chunk i: bars i and i + 1 of the input.
  first_bars = []
  for i in range(11):
    pitches = [n.pitch for n in joined.notes if 4 * i <= n.start_time < 4 * i + 2]
    first_bars.append(np.mean(pitches) if pitches else np.nan)
  assert not np.isnan(first_bars).any(), first_bars
  expected = [60 + 2 * i for i in range(11)]
  assert _spearman(first_bars, expected) >= 0.9, first_bars
  # Shuffled chunks would fail: the measure can go the other way.
  assert _spearman(first_bars[::-1], expected) < 0


def test_a_personalizer_save_works_in_every_mode(mel_2bar_small_checkpoint,
                                                 mel_2bar_small, tmp_path):
  from midime_magenta import personalizer as personalizer_lib  # pylint: disable=g-import-not-at-top
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  p.train(REEL, epochs=10, seed=0, progress=False)
  run_dir = str(tmp_path / 'saved')
  p.save(run_dir)
  for mode, extra in (('sample', []), ('reconstruct', []),
                      ('interpolate', [f'--input_midi_1={REEL}',
                                       f'--input_midi_2={FOLK_1}']),
                      ('traverse', ['--num_outputs=2'])):
    result = _generate(mel_2bar_small_checkpoint, run_dir,
                       tmp_path / mode, f'--mode={mode}', '--nopiano_rolls',
                       *extra)
    assert result.returncode == 0, (mode, result.stderr)
    assert [n for n in os.listdir(tmp_path / mode) if n.endswith('.mid')]


def test_a_huge_request_streams_and_ctrl_c_leaves_no_partial_file(tmp_path):
  """--num_outputs=100000 writes as it goes; Ctrl-C then ends it cleanly."""
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  proc = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'midime_generate'),
       '--config=' + testdata_lib.tiny_config('tiny-mel_2bar'),
       '--checkpoint_file=' + testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
       '--mode=prior', '--num_outputs=100000', f'--output_dir={out}',
       '--nopiano_rolls'], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
      text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
  started = time.time()
  seen = 0
  while time.time() < started + 120 and proc.poll() is None and seen < 100:
    time.sleep(0.2)
    seen = len([n for n in os.listdir(out) if n.endswith('.mid')]
               if out.exists() else [])
  # Once, under load, the run ended before Ctrl-C was sent: say how far this
  # loop got, so a recurrence tells the two possible causes apart.
  assert proc.poll() is None, (
      f'midime_generate ended before Ctrl-C: {seen} files seen after '
      f'{time.time() - started:.0f} s')
  proc.send_signal(signal.SIGINT)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr
  assert 'Traceback' not in stderr
  assert 'Generating: ' in stderr  # Progress while it streams.
  names = os.listdir(out)
  assert len(names) >= 100 and len(names) < 100000
  assert not [n for n in names if n.startswith('.') or 'tmp' in n]
  assert all((out / n).stat().st_size > 0 for n in names)
  # Numbered from 000 without gaps: nothing in the middle was lost.
  numbers = sorted(int(re.search(r'-(\d+)-of-', n).group(1)) for n in names)
  assert numbers == list(range(len(numbers)))


def _ctrl_c_as_in_a_terminal():
  """In the child: Ctrl-C as a terminal delivers it. Test runners (xdist
  workers) may ignore SIGINT, and children inherit that."""
  import signal  # pylint: disable=g-import-not-at-top
  signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_trio_4bar_from_a_url_on_a_real_song(tmp_path):
  """The paper's other half: trio_4bar by URL, a 4-track song, every mode.

  The song's tune is on a flute, its bass on a synth program outside
  General MIDI's basses, and a piano plays chords on the first track; the
  trio must take the flute, the synth bass and the drums. The checkpoint is
  trio_4bar's layout (1-byte weights) with random weights, served on
  127.0.0.1 under the official path; no --config is given.
  """
  from midime_testing import tfjs_testdata_lib  # pylint: disable=g-import-not-at-top
  www = tmp_path / 'www'
  tfjs_testdata_lib.make_checkpoint(
      str(www / 'js' / 'checkpoints' / 'music_vae' / 'trio_4bar'), 'trio_4bar')
  song = testdata_lib.make_band_midi(str(tmp_path / 'band.mid'), bars=12)
  # Magenta's TrioConverter alone takes the piano as the melody and finds no
  # bass: nothing to train on without the track choice.
  from magenta.models.music_vae import data  # pylint: disable=g-import-not-at-top
  raw = data.TrioConverter(steps_per_quarter=4, slice_bars=4).to_tensors(
      midi_io.read_midi_file(song))
  assert not raw.inputs
  env = {'MIDIME_MAGENTA_CACHE': str(tmp_path / 'cache')}
  run_dir = tmp_path / 'run'
  with testdata_lib.serving(www) as base:
    url = f'{base}/js/checkpoints/music_vae/trio_4bar'
    trained = run('midime_train', f'--checkpoint_file={url}',
                  f'--input_midi={song}', f'--run_dir={run_dir}',
                  '--num_epochs=30', '--seed=0', env=env)
    assert trained.returncode == 0, trained.stderr
    assert not testdata_lib.foreign_lines(trained.stderr), trained.stderr
    assert ('melody from instrument 2, bass from instrument 1, all drums'
            in trained.stderr)
    with open(run_dir / 'summary.json') as f:
      summary = json.load(f)
    assert summary['config'] == 'trio_4bar'
    assert summary['hparams']['num_epochs'] == 30
    assert summary['inputs'][0]['trio_tracks']['melody'] == 2
    assert summary['num_chunks'] == 3  # 4-bar windows in 12 bars.
    for mode, extra in (('sample', ['--num_outputs=4']),
                        ('reconstruct', ['--num_outputs=3']),
                        ('traverse', ['--num_outputs=2']),
                        ('interpolate', ['--num_outputs=3',
                                         f'--input_midi_1={song}',
                                         f'--input_midi_2={song}'])):
      out = tmp_path / mode
      result = run('midime_generate', f'--checkpoint_file={url}',
                   f'--run_dir={run_dir}', f'--mode={mode}',
                   f'--output_dir={out}', '--temperature=1.0', '--seed=0',
                   *extra, env=env)
      assert result.returncode == 0, (mode, result.stderr)
      midis = sorted(n for n in os.listdir(out) if n.endswith('.mid'))
      assert midis and all(n.startswith('trio_4bar_') for n in midis)
      if mode == 'sample':
        for name in midis:
          ns = note_seq.midi_file_to_note_sequence(str(out / name))
          assert ns.total_time <= 8.0 + 1e-3  # 4 bars at 120 qpm.
          # The song's own flute (73) and synth bass (87), and drums.
          programs = {(n.is_drum, n.program) for n in ns.notes}
          assert {p for d, p in programs if not d} == {73, 87}, programs
          assert any(d for d, _ in programs), programs
    out = tmp_path / 'music_vae'
    result = run('midime_generate', f'--checkpoint_file={url}',
                 f'--run_dir={run_dir}', f'--output_dir={out}', '--seed=0',
                 '--temperature=1.0', '--num_outputs=2',
                 '--voicing=music_vae', env=env)
    assert result.returncode == 0, result.stderr
    for name in sorted(n for n in os.listdir(out) if n.endswith('.mid')):
      ns = note_seq.midi_file_to_note_sequence(str(out / name))
      # MusicVAE's own melody (0) and bass (33) programs.
      assert {n.program for n in ns.notes if not n.is_drum} == {0, 33}


def test_a_piece_is_one_file_of_connected_chunks(mel_2bar_small_checkpoint,
                                                 official_run_dir, tmp_path):
  out = tmp_path / 'piece'
  result = _generate(mel_2bar_small_checkpoint, official_run_dir, out,
                     '--mode=piece', '--num_outputs=8', '--step_size=0.2',
                     '--variation=0.8', '--seed=0')
  assert result.returncode == 0, result.stderr
  midis = [n for n in os.listdir(out) if n.endswith('.mid')]
  assert len(midis) == 1 and '_midime-piece_' in midis[0] and midis[0].endswith(
      '-000-of-001.mid'), midis
  assert os.path.exists(out / (midis[0][:-4] + '.png'))
  ns = note_seq.midi_file_to_note_sequence(str(out / midis[0]))
  # 8 chunks of 2 bars, each in its own 4-second slot: a 16-bar piece with
  # music in most slots.
  assert ns.total_time <= 32.0 + 1e-3
  slots = {int(n.start_time // 4.0) for n in ns.notes}
  assert len(slots) >= 6 and max(slots) <= 7, slots


def test_small_steps_make_neighbouring_chunks_alike(mel_2bar_small_checkpoint,
                                                    official_run_dir):
  """A piece's neighbours share more notes with small steps than with
  unrelated chunks (step 1): the knob does what it says."""
  p = personalizer_lib.Personalizer.load(official_run_dir,
                                         mel_2bar_small_checkpoint)
  chunk = p.music_vae.chunk_seconds

  def neighbour_f1(step):
    f1 = []
    for seed in range(3):
      piece = p.piece(chunks=12, step_size=step, temperature=0.01, seed=seed)
      slots = [note_seq.NoteSequence() for _ in range(12)]
      for n in piece.notes:
        k = int(n.start_time // chunk)
        slots[k].notes.add(pitch=n.pitch, start_time=n.start_time - k * chunk,
                           end_time=n.end_time - k * chunk)
      f1 += [novelty_lib.note_f1(a, b) for a, b in zip(slots, slots[1:])]
    return float(np.mean(f1))

  small, unrelated = neighbour_f1(0.1), neighbour_f1(1.0)
  assert small > unrelated + 0.1, (small, unrelated)


def test_outputs_keep_the_inputs_tempo_and_program(mel_2bar_small_checkpoint,
                                                   tmp_path):
  """A 90-qpm flute tune comes back at 90 qpm on the flute, from the script
  and the API; --voicing=music_vae keeps MusicVAE's 120 qpm and piano."""
  reel = midi_io.read_midi_file(REEL)
  assert [t.qpm for t in reel.tempos] == [120.0]
  flute = note_seq.sequences_lib.stretch_note_sequence(reel, 120.0 / 90.0)
  for n in flute.notes:
    n.program = 73
  tune = str(tmp_path / 'flute_90.mid')
  note_seq.sequence_proto_to_midi_file(flute, tune)
  run_dir = tmp_path / 'run'
  trained = run('midime_train', '--config=cat-mel_2bar_small',
                f'--checkpoint_file={mel_2bar_small_checkpoint}',
                f'--input_midi={tune}', f'--run_dir={run_dir}',
                '--num_epochs=20', '--seed=0')
  assert trained.returncode == 0, trained.stderr
  with open(run_dir / 'summary.json') as f:
    assert json.load(f)['voicing'] == {
        'qpm': 90.0, 'melody_program': 73, 'bass_program': 33}
  step = 60.0 / 90.0 / 4
  for voicing, qpm, program in (('input', 90.0, 73), ('music_vae', 120.0, 0)):
    out = tmp_path / voicing
    result = _generate(mel_2bar_small_checkpoint, run_dir, out,
                       '--num_outputs=3', '--concat_outputs', '--seed=1',
                       f'--voicing={voicing}')
    assert result.returncode == 0, result.stderr
    names = sorted(n for n in os.listdir(out) if n.endswith('.mid'))
    assert len(names) == 4
    for name in names:
      ns = note_seq.midi_file_to_note_sequence(str(out / name))
      assert [round(t.qpm, 3) for t in ns.tempos] == [qpm], name
      assert ns.notes and {n.program for n in ns.notes} == {program}, name
      # The notes sit on that tempo's 16th-note grid, in 2-bar slots.
      grid = 60.0 / qpm / 4
      assert all(abs(n.start_time / grid - round(n.start_time / grid)) < 1e-3
                 for n in ns.notes), name
      slots = 3 if 'concat' in name else 1
      assert ns.total_time <= slots * 32 * grid + 1e-3, name
  personalizer = personalizer_lib.Personalizer.load(
      str(run_dir), mel_2bar_small_checkpoint)
  for ns in personalizer.sample(2, seed=0) + [personalizer.piece(3, seed=0)]:
    assert [t.qpm for t in ns.tempos] == [90.0]
    assert {n.program for n in ns.notes} == {73}
    assert all(abs(n.start_time / step - round(n.start_time / step)) < 1e-3
               for n in ns.notes)
