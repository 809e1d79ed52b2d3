"""encode_run_lib: midime_encode on a Dask cluster (a scheduler and a worker
process of 2 workers, started here) against the in-process encoder, a
worker killed and a stop midway, and failures that are one line: a
scheduler that does not answer, a read-only or full filesystem, a bucket
Beam cannot list."""

import os
import re

import numpy as np
import pytest

from midime_magenta.encoding import encoded_lib
from midime_magenta import personalizer as personalizer_lib
from midime_magenta.encoding.encode_pipeline_test import catalogue  # pylint: disable=unused-import
from midime_magenta.encoding.encode_pipeline_test import read_skipped
from midime_testing import testdata_lib
from midime_testing import warm_scripts

pytest.importorskip('apache_beam', reason='the beam extra is not installed '
                    '(pip install "midime-magenta[beam]")')

run = warm_scripts.run


@pytest.fixture(scope='module')
def one_machine(catalogue, mel_2bar_small):
  """The catalogue's chunks encoded in this process: (sources, starts, z)."""
  p = personalizer_lib.Personalizer('cat-mel_2bar_small',
                                    music_vae=mel_2bar_small)
  usable = [c for c in p.chunk(catalogue) if c.num_chunks]
  return ([c.source for c in usable for _ in c.starts],
          [s for c in usable for s in c.starts], p.encode(usable))


@pytest.fixture(scope='module')
def dask_cluster(tmp_path_factory):
  """`dask scheduler` and `dask worker --nworkers 2 --nthreads 1` on
  127.0.0.1 (free ports), each its own process group, all ended after."""
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  distributed = pytest.importorskip(
      'distributed', reason='dask is not installed (pip install '
      '"midime-magenta[beam]")')
  folder = tmp_path_factory.mktemp('dask')
  address_file = str(folder / 'scheduler.json')
  dask = os.path.join(os.path.dirname(sys.executable), 'dask')
  procs = []
  client = None
  try:
    for name, args in (
        ('scheduler', ['scheduler', '--host=127.0.0.1', '--port=0']),
        ('worker', ['worker', '--nworkers=2', '--nthreads=1',
                    '--host=127.0.0.1'])):
      with open(folder / f'{name}.log', 'wb') as log:
        procs.append(subprocess.Popen(
            [dask, *args, '--no-dashboard',
             f'--scheduler-file={address_file}'],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    client = distributed.Client(scheduler_file=address_file, timeout=60)
    client.wait_for_workers(2, timeout=120)
    yield client
  finally:
    if client is not None:
      client.close()
    for proc in reversed(procs):
      with __import__('contextlib').suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
      proc.wait(timeout=60)


def _assert_same_as_one_machine(out, one_machine):
  data, manifest = encoded_lib.load_training_data(out)
  sources, starts, z = one_machine
  keys = list(zip(data.sources, data.starts))
  assert len(set(keys)) == len(keys)  # Each chunk once...
  assert data.sources == sources  # ...and the same chunks.
  np.testing.assert_allclose(data.starts, starts, atol=1e-6)
  np.testing.assert_allclose(data.z, z, atol=1e-5)
  assert manifest['chunks'] == len(z) and manifest['sequences'] == 110
  assert manifest['skipped'] == 3 and manifest['files'] == 113
  assert sorted(os.listdir(out)) == sorted(
      [*manifest['shards'], 'manifest.json', 'skipped-00000-of-00001.jsonl'])
  return manifest


def test_a_dask_cluster_gives_the_one_machine_encoding(
    dask_cluster, catalogue, one_machine, mel_2bar_small_checkpoint,
    tmp_path):
  """Encoded by the cluster's two worker processes (not the driver), each
  restoring MusicVAE once, whatever the number of partitions each ran; the
  script's stderr holds only our own lines.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  # Defined here, so Dask sends them by value: a worker cannot import this
  # module (it imports midime_testing, which only the checkout holds).
  def count_restores():  # In a worker: from now, count MusicVAE's restores.
    from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
    load = getattr(music_vae_lib.load_music_vae, '__wrapped__',
                   music_vae_lib.load_music_vae)

    def counted(*args, **kwargs):
      counted.calls += 1
      return load(*args, **kwargs)

    counted.__wrapped__, counted.calls = load, 0
    music_vae_lib.load_music_vae = counted

  def restores():
    from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
    return music_vae_lib.load_music_vae.calls

  dask_cluster.run(count_restores)
  out = str(tmp_path / 'out')
  result = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'midime_encode'),
       '--config=cat-mel_2bar_small',
       f'--checkpoint_file={mel_2bar_small_checkpoint}',
       f'--input_midi={catalogue}', f'--output_dir={out}',
       '--pipeline_options=--runner=DaskRunner,'
       f'--dask_client_address={dask_cluster.scheduler.address}'],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert not testdata_lib.foreign_lines(result.stderr), result.stderr
  manifest = _assert_same_as_one_machine(out, one_machine)
  assert f'Encoded {manifest["chunks"]} chunks of ' in result.stderr
  assert len(manifest['shards']) == 7  # One a partition: 16 files each.
  assert dict(read_skipped(out)).keys() == {
      os.path.join(catalogue, n) for n in
      ('damaged.mid', 'damaged-\\xfe.mid', 'drums.mid')}
  restored = dask_cluster.run(restores)
  assert sorted(restored.values()) == [1, 1], restored


def _midway_on_dask(dask_cluster, catalogue, checkpoint, out, then):
  """Starts midime_encode on the cluster, calls `then()` once its first
  shard is written, and returns (exit code, stderr)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  proc = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'midime_encode'),
       '--config=cat-mel_2bar_small', f'--checkpoint_file={checkpoint}',
       f'--input_midi={catalogue}', f'--output_dir={out}',
       '--pipeline_options=--runner=DaskRunner,'
       f'--dask_client_address={dask_cluster.scheduler.address}'],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.monotonic() + 180
    while not (out.is_dir() and any(
        re.fullmatch(r'encoded-\d{5}-of-\d{5}\.tfrecord', n)
        for n in os.listdir(out))):
      assert proc.poll() is None and time.monotonic() < deadline, (
          proc.returncode)
      time.sleep(0.05)
    assert not (out / 'manifest.json').exists()  # It is midway.
    then(proc)
    _, stderr = proc.communicate(timeout=300)
  finally:
    proc.kill()
    proc.wait()
  assert 'Traceback' not in stderr, stderr
  return proc.returncode, stderr


def test_a_stopped_dask_encoding_leaves_nothing(
    dask_cluster, catalogue, mel_2bar_small_checkpoint, tmp_path):
  """SIGTERM midway: one line, exit 130, the folder gone; the cluster's
  work still running then writes nothing into it."""
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  code, stderr = _midway_on_dask(
      dask_cluster, catalogue, mel_2bar_small_checkpoint, out,
      lambda proc: proc.send_signal(signal.SIGTERM))
  assert code == 130, stderr
  assert testdata_lib.error_lines(stderr) == [
      'midime_encode: error: Interrupted; nothing was left half-written.']
  time.sleep(3)  # Tasks that were running finish, and must not write.
  assert not out.exists()


def test_a_dask_worker_killed_midway_loses_nothing(
    dask_cluster, catalogue, one_machine, mel_2bar_small_checkpoint,
    tmp_path):
  """SIGKILL to one worker process while the shards are being written: its
  work runs again elsewhere and the encoding is whole, each chunk once (or,
  if dask gives up, one line and no encoding left)."""
  import signal  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  victim = max(dask_cluster.run(os.getpid).values())
  code, stderr = _midway_on_dask(
      dask_cluster, catalogue, mel_2bar_small_checkpoint, out,
      lambda unused_proc: os.kill(victim, signal.SIGKILL))
  if code == 0:
    _assert_same_as_one_machine(str(out), one_machine)
  else:
    assert code == 1 and len(testdata_lib.error_lines(stderr)) == 1, stderr
    assert not out.exists() or not os.listdir(out)


def test_a_dask_scheduler_that_does_not_answer_is_one_line(
    mel_2bar_small_checkpoint, tmp_path):
  """A port nothing listens on: one line naming the address, nothing made."""
  import socket  # pylint: disable=g-import-not-at-top
  pytest.importorskip('distributed', reason='dask is not installed')
  with socket.socket() as probe:  # A free port, closed again.
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
  result = run('midime_encode', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               f'--input_midi={testdata_lib.testdata_path("folk")}',
               f'--output_dir={tmp_path / "out"}',
               '--pipeline_options=--runner=DaskRunner,--dask_client_address='
               f'127.0.0.1:{port},--dask_connection_timeout=2')
  assert result.returncode == 1, result.stderr
  assert 'Traceback' not in result.stderr, result.stderr
  lines = testdata_lib.error_lines(result.stderr)
  assert len(lines) == 1 and lines[0].startswith(
      'midime_encode: error: --pipeline_options: no dask scheduler answers '
      f'at 127.0.0.1:{port}'), result.stderr
  assert not (tmp_path / 'out').exists()


@pytest.fixture
def mounted(tmp_path):
  """mount(options) -> a fresh tmpfs (`ro`, `size=...`), unmounted after;
  skips where this process may not mount (not root, or a sandbox)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  points = []

  def mount(options):
    point = tmp_path / f'mount{len(points)}'
    point.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs',
                           str(point)], capture_output=True, check=False)
    if done.returncode:
      pytest.skip(f'cannot mount a tmpfs here: {done.stderr!r}')
    points.append(point)
    return point

  yield mount
  for point in points:
    subprocess.run(['umount', '-l', str(point)], check=False)


def test_a_read_only_or_full_filesystem_is_one_line(
    mounted, mel_2bar_small_checkpoint):
  """--output_dir on a read-only mount (as root, where permissions do not
  bite) is refused before any work; a filesystem that fills up while Beam
  writes ends in one line and leaves nothing of the encoding."""
  folk = testdata_lib.testdata_path('folk')  # 80 chunks, about 95 kB.
  read_only = mounted('ro,size=64k')
  full = mounted('size=64k')
  for out, said in ((read_only / 'out', 'is on a read-only filesystem'),
                    (read_only, 'is on a read-only filesystem'),
                    (full / 'out', 'its filesystem is full')):
    result = run('midime_encode', '--config=cat-mel_2bar_small',
                 f'--checkpoint_file={mel_2bar_small_checkpoint}',
                 f'--input_midi={folk}', f'--output_dir={out}')
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    lines = testdata_lib.error_lines(result.stderr)
    assert len(lines) == 1 and f'--output_dir {out}' in lines[0], lines
    assert said in lines[0], lines
  assert os.listdir(full) == []


def test_a_bucket_beam_cannot_reach_is_one_line(mel_2bar_small_checkpoint,
                                                tmp_path):
  """gs:// without Beam's GCP extra (or offline): one line, nothing made."""
  result = run('midime_encode', '--config=cat-mel_2bar_small',
               f'--checkpoint_file={mel_2bar_small_checkpoint}',
               '--input_midi=gs://midime-test-bucket/midi/',
               f'--output_dir={tmp_path / "out"}')
  assert result.returncode == 1, result.stderr
  assert 'Traceback' not in result.stderr, result.stderr
  lines = testdata_lib.error_lines(result.stderr)
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('midime_encode: error: --input_midi '
                             'gs://midime-test-bucket/midi/ cannot be listed')
  assert not (tmp_path / 'out').exists()
