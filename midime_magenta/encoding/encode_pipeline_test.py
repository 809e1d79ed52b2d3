"""midime_encode on Beam's DirectRunner (2 worker processes) against the
in-process encoder, on a folder of 110 real tunes, and training on its
shards."""

import hashlib
import json
import os

import note_seq
import numpy as np
import pytest

from midime_magenta.encoding import encoded_lib
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import run_lib
from midime_testing import testdata_lib
from midime_testing import warm_scripts

pytest.importorskip('apache_beam', reason='the beam extra is not installed '
                    '(pip install "midime-magenta[beam]")')

# Scripts run in one warm process (warm_scripts); a test that checks what
# start-up prints runs its script cold.
run = warm_scripts.run
cold = testdata_lib.run_installed_script
TRANSPOSITIONS = (-5, -4, -3, -2, -1, 0, 1, 2, 3, 4)


def read_skipped(folder):
  """[(source, reason)] of an encoding's skipped list, sorted."""
  with open(os.path.join(folder, 'skipped-00000-of-00001.jsonl'),
            encoding='utf-8') as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return sorted((row['source'], row['reason']) for row in rows)


@pytest.fixture(scope='module')
def catalogue(tmp_path_factory):
  """110 tunes (the 10 folk tunes and the reel, each in 10 keys) in nested
  folders, two damaged files and a drum track (no melody)."""
  folder = tmp_path_factory.mktemp('catalogue')
  tunes = [testdata_lib.testdata_path('folk', n) for n in
           sorted(os.listdir(testdata_lib.testdata_path('folk')))]
  tunes.append(testdata_lib.testdata_path('reel_4-4.mid'))
  for i, path in enumerate(tunes):
    ns = note_seq.midi_file_to_note_sequence(path)
    for t in TRANSPOSITIONS:
      moved = note_seq.NoteSequence()
      moved.CopyFrom(ns)
      for n in moved.notes:
        n.pitch += t
      sub = folder / f'set{i % 3}'
      sub.mkdir(exist_ok=True)
      note_seq.sequence_proto_to_midi_file(moved,
                                           str(sub / f'tune{i:02d}_{t:+d}.mid'))
  (folder / 'damaged.mid').write_bytes(b'MThd\x00\x00\x00\x06garbage')
  # Names that are not UTF-8 (byte 0xff, 0xfe): encoded or skipped like any
  # other, never the end of the whole encoding.
  os.rename(folder / 'set0' / 'tune00_+0.mid',
            os.path.join(os.fsencode(folder / 'set0'), b'tune00_+0-\xff.mid'))
  with open(os.path.join(os.fsencode(folder), b'damaged-\xfe.mid'), 'wb') as f:
    f.write(b'MThd\x00\x00\x00\x06garbage')
  (folder / 'drums.mid').write_bytes(
      open(testdata_lib.testdata_path('drums_only.mid'), 'rb').read())
  return str(folder)


@pytest.fixture(scope='module')
def encoded(catalogue, mel_2bar_small_checkpoint, tmp_path_factory):
  out = str(tmp_path_factory.mktemp('encoded') / 'out')
  result = cold('midime_encode', '--config=cat-mel_2bar_small',
                f'--checkpoint_file={mel_2bar_small_checkpoint}',
                f'--input_midi={catalogue}', f'--output_dir={out}')
  assert result.returncode == 0, result.stderr
  assert not testdata_lib.foreign_lines(result.stderr), result.stderr
  return out, result


def test_same_chunks_and_mu_as_the_in_process_encoder(
    encoded, catalogue, mel_2bar_small):
  out, _ = encoded
  data, manifest = encoded_lib.load_training_data(out)
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  chunked = p.chunk(catalogue)
  usable = [c for c in chunked if c.num_chunks]
  assert len(usable) == 110
  z = p.encode(usable)
  sources = [c.source for c in usable for _ in c.starts]
  starts = [s for c in usable for s in c.starts]
  # The same chunks, in midime_train's order (files by path, then time).
  assert data.sources == sources
  np.testing.assert_allclose(data.starts, starts, atol=1e-6)
  np.testing.assert_allclose(data.z, z, atol=2e-4)
  assert any(s.endswith('tune00_+0-\udcff.mid') for s in data.sources)
  assert manifest['chunks'] == len(z) and manifest['files'] == 113
  assert manifest['sequences'] == 110 and manifest['skipped'] == 3
  assert manifest['music_vae'] == p.music_vae_identity
  assert len(manifest['shards']) >= 1


def test_bad_inputs_land_in_the_skipped_output(encoded, catalogue):
  out, _ = encoded
  skipped = dict(read_skipped(out))
  assert set(skipped) == {os.path.join(catalogue, 'damaged.mid'),
                          os.path.join(catalogue, 'damaged-\\xfe.mid'),
                          os.path.join(catalogue, 'drums.mid')}
  assert 'damaged MIDI' in skipped[os.path.join(catalogue, 'damaged.mid')]
  assert skipped[os.path.join(catalogue, 'drums.mid')]


def test_a_second_run_into_the_same_output_is_refused(
    encoded, catalogue, mel_2bar_small_checkpoint):
  out, _ = encoded
  before = {n: hashlib.sha256(open(os.path.join(out, n), 'rb').read())
            .hexdigest() for n in os.listdir(out)}
  result = run('midime_encode', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               f'--input_midi={catalogue}', f'--output_dir={out}')
  assert result.returncode == 1
  assert 'already holds an encoding' in testdata_lib.error_lines(
      result.stderr)[0]
  after = {n: hashlib.sha256(open(os.path.join(out, n), 'rb').read())
           .hexdigest() for n in os.listdir(out)}
  assert after == before


def test_an_output_folder_another_encoding_is_writing_is_refused(
    catalogue, mel_2bar_small_checkpoint, tmp_path):
  """Two encodings into one new folder: the second is refused at once."""
  import subprocess  # pylint: disable=g-import-not-at-top
  from midime_magenta import file_util  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  out.mkdir()
  holder = subprocess.Popen(['sleep', '60'])  # Stands for the first run.
  try:
    (out / file_util.LOCK_FILE).write_text(str(holder.pid))
    result = run('midime_encode', '--config=cat-mel_2bar_small',
                 f'--checkpoint_file={mel_2bar_small_checkpoint}',
                 f'--input_midi={catalogue}', f'--output_dir={out}')
  finally:
    holder.kill()
    holder.wait()
  assert result.returncode == 1
  assert 'Another process' in testdata_lib.error_lines(result.stderr)[0]
  assert os.listdir(out) == [file_util.LOCK_FILE]  # Nothing written.


def test_a_stopped_encoding_leaves_a_folder_a_rerun_accepts(
    catalogue, mel_2bar_small_checkpoint, tmp_path):
  """SIGTERM ends the pipeline as Ctrl-C does: one line, exit 130, Beam's
  temporary folders gone. A run killed outright (SIGKILL) leaves them; the
  next run into the folder accepts it, removes them and encodes."""
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  out.mkdir()  # The user's own empty folder: kept, and left empty.
  command = [os.path.join(os.path.dirname(sys.executable), 'midime_encode'),
             '--config=cat-mel_2bar_small',
             f'--checkpoint_file={mel_2bar_small_checkpoint}',
             f'--input_midi={catalogue}', f'--output_dir={out}']

  def stopped(how):
    proc = subprocess.Popen(command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(n.startswith('beam-temp-') for n in os.listdir(out)):
      if proc.poll() is not None or time.monotonic() > deadline:
        proc.kill()
        raise AssertionError(  # Says how the wait ended, for a rare flake.
            f'no beam-temp folder seen; exit {proc.returncode}, '
            f'stderr: {proc.communicate(timeout=120)[1][-2000:]}')
      time.sleep(0.1)
    if how == signal.SIGKILL:
      # The script and Beam's worker processes, all at once: killed alone,
      # the script leaves the workers holding its stderr open until they
      # notice (over two minutes once, on a loaded machine).
      os.killpg(proc.pid, how)
    else:
      proc.send_signal(how)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr

  code, stderr = stopped(signal.SIGTERM)
  assert code == 130, stderr
  assert 'Traceback' not in stderr, stderr
  assert testdata_lib.error_lines(stderr) == [
      'midime_encode: error: Interrupted; nothing was left half-written.']
  assert os.listdir(out) == []
  code, _ = stopped(signal.SIGKILL)
  assert code == -signal.SIGKILL
  assert any(n.startswith('beam-temp-') for n in os.listdir(out))
  result = run(*[os.path.basename(command[0]), *command[1:]])
  assert result.returncode == 0, result.stderr
  assert not any(n.startswith('beam-temp-') for n in os.listdir(out))
  assert encoded_lib.read_manifest(str(out))['sequences'] == 110


def test_midime_train_on_the_shards(encoded, mel_2bar_small_checkpoint,
                                    tmp_path):
  out, _ = encoded
  run_dir = str(tmp_path / 'run')
  result = run('midime_train', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               f'--input_encoded={out}', f'--run_dir={run_dir}',
               '--num_epochs=5', '--seed=0')
  assert result.returncode == 0, result.stderr
  _, training_data, meta = run_lib.load_run(run_dir)
  data, _ = encoded_lib.load_training_data(out)
  np.testing.assert_array_equal(training_data.z, data.z)
  assert training_data.sources == data.sources
  assert meta['summary']['encoded']['chunks'] == len(data.z)
  # Another MusicVAE's checkpoint is refused in one line.
  result = run('midime_train', '--config=' + testdata_lib.tiny_config('tiny-mel_2bar'),
               '--checkpoint_file=' +
               testdata_lib.tiny_checkpoint('tiny-mel_2bar'),
               f'--input_encoded={out}', f'--run_dir={tmp_path / "other"}')
  assert result.returncode == 1
  assert 'cat-mel_2bar_small' in testdata_lib.error_lines(result.stderr)[0]
  assert not os.path.exists(tmp_path / 'other')


def test_tfrecords_of_note_sequences_in_process(tmp_path, mel_2bar_small):
  """TFRecords of NoteSequences, on the single-process DirectRunner through
  the library call: each record is its own source, as midime_train names
  it, and a record that is no NoteSequence is skipped with the reason."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from midime_magenta.encoding import encode_pipeline  # pylint: disable=g-import-not-at-top
  folk = sorted(os.listdir(testdata_lib.testdata_path('folk')))[:3]
  records = str(tmp_path / 'tunes.tfrecord')
  with tf.io.TFRecordWriter(records) as writer:
    for name in folk:
      writer.write(note_seq.midi_file_to_note_sequence(
          testdata_lib.testdata_path('folk', name)).SerializeToString())
  broken = str(tmp_path / 'broken.tfrecord')
  with tf.io.TFRecordWriter(broken) as writer:
    writer.write(b'\xff not a NoteSequence')
  out = str(tmp_path / 'out')
  manifest = encode_pipeline.encode(
      f'{records},{broken}', out, 'cat-mel_2bar_small',
      mel_2bar_small.checkpoint, pipeline_options=['--runner=DirectRunner'])
  data, _ = encoded_lib.load_training_data(out)
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  chunked = p.chunk(records)
  assert [c.source for c in chunked] == [f'{records}#{i}' for i in range(3)]
  assert data.sources == [c.source for c in chunked for _ in c.starts]
  np.testing.assert_allclose(data.z, p.encode(chunked), atol=2e-4)
  assert manifest['sequences'] == 3 and manifest['skipped'] == 1
  assert [s for s, _ in read_skipped(out)] == [broken]


def test_the_script_says_what_it_encoded_and_nothing_of_the_workers(
    catalogue, tmp_path, mel_2bar_small_checkpoint):
  """Its stderr holds our own lines only (the workers' stay in a file) and
  ends with the count Beam's metrics gave, which is the manifest's."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / 'out')
  result = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'midime_encode'),
       '--config=cat-mel_2bar_small',
       f'--checkpoint_file={mel_2bar_small_checkpoint}',
       f'--input_midi={catalogue}', f'--output_dir={out}', '--batch_size=64'],
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert not testdata_lib.foreign_lines(result.stderr), result.stderr
  chunks = encoded_lib.read_manifest(out)['chunks']
  assert f'Encoded {chunks} chunks of ' in result.stderr
