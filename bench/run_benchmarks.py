"""MidiMe benchmarks: our tools against what users would run otherwise.

  bin/bench                 (a few minutes on 2 cores; needs ../shared)

Every figure is measured in this run, on this machine, and printed as one
table; the JSON goes to bench/results/. Ratios compare with the baseline each
step replaces: music_vae_generate, or a bare TrainedModel loop. Subprocess
timings are the best of `--reps` runs.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)
import midime_magenta  # noqa: E402,F401  (sets the TF environment first)
import note_seq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from magenta.models.music_vae import TrainedModel  # noqa: E402

from midime_magenta import midi_io
from midime_magenta.checkpoints import checkpoint_lib  # noqa: E402
from midime_magenta import chunking_lib  # noqa: E402
from midime_magenta import configs  # noqa: E402
from midime_magenta.encoding import encoded_lib  # noqa: E402
from midime_magenta import midime_model  # noqa: E402
from midime_magenta import music_vae_lib  # noqa: E402
from midime_magenta import personalizer as personalizer_lib  # noqa: E402
from midime_testing import testdata_lib  # noqa: E402

BIN = os.path.dirname(sys.executable)
CONFIG = 'cat-mel_2bar_small'


def machine():
  model = 'unknown'
  with open('/proc/cpuinfo', encoding='utf-8') as f:
    for line in f:
      if line.startswith('model name'):
        model = line.split(':', 1)[1].strip()
        break
  return {'cores': os.cpu_count(), 'cpu': model,
          'python': platform.python_version(), 'tensorflow': tf.__version__}


def run_timed(cmd, reps, env=None):
  """Best wall time of `reps` runs of a command, and its peak RSS (MiB)."""
  best, rss = float('inf'), 0.0
  for _ in range(reps):
    probe = [sys.executable, '-c',
             'import resource, subprocess, sys, time; t = time.perf_counter();'
             ' r = subprocess.run(sys.argv[1:], capture_output=True);'
             ' print(time.perf_counter() - t,'
             ' resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,'
             ' r.returncode)', *cmd]
    out = subprocess.run(probe, capture_output=True, text=True, check=True,
                         env=env)
    seconds, max_rss_kib, code = out.stdout.split()
    if code != '0':
      raise RuntimeError(f'{cmd[0]} failed: {code}')
    best = min(best, float(seconds))
    rss = max(rss, int(max_rss_kib) / 1024)
  return best, rss


def write_tunes(folder, sources, transpositions):
  """Writes each source tune once per transposition: distinct chunks."""
  os.makedirs(folder, exist_ok=True)
  paths = []
  for src in sources:
    for t in transpositions:
      ns = midi_io.read_midi_file(src)
      for n in ns.notes:
        n.pitch = min(108, max(21, n.pitch + t))
      path = os.path.join(folder, f'{os.path.basename(src)[:-4]}_{t:+d}.mid')
      note_seq.sequence_proto_to_midi_file(ns, path)
      paths.append(path)
  return paths


def three_minute_tune(path):
  reel = midi_io.read_midi_file(testdata_lib.testdata_path('reel_4-4.mid'))
  notes = list(reel.notes)
  del reel.notes[:]
  for k in range(6):  # 6 x 32 s, each pass transposed.
    for n in notes:
      reel.notes.add(pitch=n.pitch + k - 3, velocity=80,
                     start_time=n.start_time + 32 * k,
                     end_time=n.end_time + 32 * k)
  reel.total_time = 192.0
  note_seq.sequence_proto_to_midi_file(reel, path)
  return path


def chunk_all(paths, config):
  inputs, lengths = [], []
  for p in paths:
    c = chunking_lib.chunk_note_sequence(midi_io.read_midi_file(p), config)
    inputs += c.inputs
    lengths += c.lengths
  return inputs, lengths


def interleaved(commands, reps):
  """Best time and peak RSS of each command, runs interleaved A B C A B C...

  Interleaving spreads this VM's drift (about 10% run to run) over all
  commands alike, so ratios compare like with like.
  """
  best = {k: (float('inf'), 0.0) for k in commands}
  for _ in range(reps):
    for k, cmd in commands.items():
      seconds, rss = run_timed(cmd, 1)
      best[k] = (min(best[k][0], seconds), max(best[k][1], rss))
  return best


def bench_generate(ckpt, run_dir, work, reps):
  """midime_generate as users run it (piano rolls on, the default) against
  music_vae_generate, same checkpoint and count, runs interleaved."""
  rows = {}
  for n in (5, 100):
    out = lambda name: os.path.join(work, f'gen_{name}_{n}')  # noqa: E731
    common = [f'--config={CONFIG}', f'--checkpoint_file={ckpt}',
              f'--num_outputs={n}', '--log=ERROR']
    ours = os.path.join(BIN, 'midime_generate')
    timed = interleaved({
        'magenta': [os.path.join(BIN, 'music_vae_generate'), *common,
                    '--mode=sample', f'--output_dir={out("magenta")}'],
        'prior': [ours, *common, '--mode=prior', f'--output_dir={out("prior")}'],
        'sample': [ours, *common, '--mode=sample', f'--run_dir={run_dir}',
                   f'--output_dir={out("sample")}'],
        'sample_no_rolls': [ours, *common, '--mode=sample',
                            f'--run_dir={run_dir}', '--nopiano_rolls',
                            f'--output_dir={out("norolls")}']}, reps)
    magenta, magenta_rss = timed['magenta']
    rows[n] = {'music_vae_generate_s': magenta,
               'prior_s': timed['prior'][0], 'sample_s': timed['sample'][0],
               'sample_no_rolls_s': timed['sample_no_rolls'][0],
               'prior_ratio': timed['prior'][0] / magenta,
               'sample_ratio': timed['sample'][0] / magenta,
               'sample_no_rolls_ratio': timed['sample_no_rolls'][0] / magenta,
               'rss_mib': {'music_vae_generate': magenta_rss,
                           'midime_generate_prior': timed['prior'][1]}}
  return rows


def bench_checkpoints(reps):
  """midime_checkpoints (the listing) wall time; target <= 0.5 s."""
  seconds, _ = run_timed([os.path.join(BIN, 'midime_checkpoints'),
                          '--log=ERROR'], reps)
  return {'wall_s': seconds}


def bench_warm_training(ckpt, tune, peak):
  """Personalizer.train in a warm process (a notebook's second call) on the
  3-minute tune, against its arithmetic at the matmul peak."""
  p = personalizer_lib.Personalizer(CONFIG, ckpt,
                                   batch_size=encoded_lib.ENCODE_BATCH_SIZE)
  p.train(tune, epochs=100, seed=0, progress=False)  # Warm up, trace.
  wall, training = float('inf'), None
  for _ in range(3):
    t = time.perf_counter()
    p.train(tune, epochs=100, seed=0, progress=False)
    if time.perf_counter() - t < wall:
      wall, training = time.perf_counter() - t, p.seconds['training']
  n = len(p.training_data.z)
  flops = training_flops_per_epoch(p.midime.hparams, p.music_vae.z_size,
                                   n) * 100
  return {'chunks': n, 'wall_s': wall, 'training_s': training,
          'arithmetic_s': flops / peak, 'ratio': wall / (flops / peak)}


def _best_rate(encode, inputs, lengths, reps):
  """Chunks per second of the best of `reps` encodings of all the inputs."""
  best = float('inf')
  for _ in range(reps):
    t = time.perf_counter()
    encode(list(inputs), list(lengths))
    best = min(best, time.perf_counter() - t)
  return len(inputs) / best


def bench_encoding(ckpt, tune, folder_paths, reps):
  """Our encoding (midime_train's default batch, the graph no larger than the
  input) against bare `encode_tensors` at each batch size, best of `reps`."""
  config = configs.get_music_vae_config(CONFIG)
  prefix = checkpoint_lib.resolve_checkpoint(ckpt).prefix
  rows = {}
  for name, paths in (('3-minute tune', [tune]), ('100 tunes', folder_paths)):
    inputs, lengths = chunk_all(paths, config)
    bare = {}
    for batch in (32, 64, 128, 256):
      model = TrainedModel(config, batch_size=batch,
                           checkpoint_dir_or_path=prefix)
      model.encode_tensors(inputs[:batch], lengths[:batch])  # Warm up.
      bare[batch] = _best_rate(model.encode_tensors, inputs, lengths, reps)
    # Our path, as midime_train builds it (its default --encode_batch_size).
    ours_model = music_vae_lib.load_music_vae(
        CONFIG, ckpt,
        batch_size=min(encoded_lib.ENCODE_BATCH_SIZE, len(inputs)))
    ours_model.encode_tensors(inputs[:256], lengths[:256])
    ours = _best_rate(ours_model.encode_tensors, inputs, lengths, reps)
    best_batch = max(bare, key=bare.get)
    rows[name] = {'chunks': len(inputs), 'ours_chunks_per_s': ours,
                  'bare_chunks_per_s': bare, 'best_bare_batch': best_batch,
                  'ratio': ours / bare[best_batch]}
  return rows


_IN_PROCESS_ENCODE = """
import sys, time, json
t0 = time.perf_counter()
import midime_magenta
from midime_magenta import startup_lib
startup_lib.import_quietly()
from midime_magenta import personalizer as personalizer_lib
from midime_magenta.encoding import encoded_lib
p = personalizer_lib.Personalizer('cat-mel_2bar_small', sys.argv[1],
                                   batch_size=encoded_lib.ENCODE_BATCH_SIZE)
p.music_vae
t1 = time.perf_counter()
chunked = p.chunk(sys.argv[2])
t2 = time.perf_counter()
z = p.encode([c for c in chunked if c.num_chunks])
t3 = time.perf_counter()
print(json.dumps({'chunks': len(z), 'start_s': t1 - t0, 'chunk_s': t2 - t1,
                  'encode_s': t3 - t2}))
"""


def bench_pipeline(ckpt, work, sizes=(100, 400)):
  """midime_encode (Beam DirectRunner, 2 worker processes, its defaults)
  against the same chunking and encoding in one process, same folder; and
  the parts that say how it scales: start-up (import + restore) per worker
  and one process's encoding rate."""
  folk = sorted(midi_io.find_input_files(testdata_lib.testdata_path('folk')))
  rows = {}
  for size in sizes:
    folder = os.path.join(work, f'catalogue_{size}')
    write_tunes(folder, folk, range(-(size // 20), size // 10 - size // 20))
    out = os.path.join(work, f'encoded_{size}')
    t = time.perf_counter()
    subprocess.run([os.path.join(BIN, 'midime_encode'), f'--config={CONFIG}',
                    f'--checkpoint_file={ckpt}', f'--input_midi={folder}',
                    f'--output_dir={out}', '--log=ERROR'], check=True)
    beam_s = time.perf_counter() - t
    with open(os.path.join(out, 'manifest.json'), encoding='utf-8') as f:
      chunks = json.load(f)['chunks']
    t = time.perf_counter()
    probe = subprocess.run([sys.executable, '-c', _IN_PROCESS_ENCODE, ckpt,
                            folder], check=True, capture_output=True,
                           text=True)
    in_process_s = time.perf_counter() - t
    parts = json.loads(probe.stdout.strip().splitlines()[-1])
    rows[f'{size} tunes'] = {
        'chunks': chunks, 'beam_s': beam_s, 'in_process_s': in_process_s,
        'beam_chunks_per_s': chunks / beam_s,
        'in_process_chunks_per_s': chunks / in_process_s,
        'ratio': in_process_s / beam_s,
        'start_up_per_worker_s': parts['start_s'],
        'chunk_s': parts['chunk_s'],
        'encode_chunks_per_s': parts['chunks'] / parts['encode_s']}
  return rows


def _timed_encode(ckpt, folder, out, *options):
  """Wall seconds of midime_encode as users run it, and its chunk count."""
  t = time.perf_counter()
  subprocess.run([os.path.join(BIN, 'midime_encode'), f'--config={CONFIG}',
                  f'--checkpoint_file={ckpt}', f'--input_midi={folder}',
                  f'--output_dir={out}', '--log=ERROR', *options], check=True)
  seconds = time.perf_counter() - t
  with open(os.path.join(out, 'manifest.json'), encoding='utf-8') as f:
    return seconds, json.load(f)['chunks']


def bench_dask(ckpt, work, size=400):
  """midime_encode on Beam's DaskRunner against a `dask scheduler` and
  `dask worker --nworkers 2 --nthreads 1` on 127.0.0.1 (started here, not
  timed), a first job (workers import TensorFlow and restore MusicVAE) and a
  second (warm workers); against the DirectRunner (2 processes) and one
  process, same folder, same 2 cores."""
  import signal  # pylint: disable=g-import-not-at-top
  from distributed import Client  # pylint: disable=g-import-not-at-top
  folk = sorted(midi_io.find_input_files(testdata_lib.testdata_path('folk')))
  folder = os.path.join(work, f'dask_catalogue_{size}')
  write_tunes(folder, folk, range(-(size // 20), size // 10 - size // 20))
  address_file = os.path.join(work, 'scheduler.json')
  procs = []
  try:
    for args in (['scheduler', '--host=127.0.0.1', '--port=0'],
                 ['worker', '--nworkers=2', '--nthreads=1',
                  '--host=127.0.0.1']):
      procs.append(subprocess.Popen(
          [os.path.join(BIN, 'dask'), *args, '--no-dashboard',
           f'--scheduler-file={address_file}'], stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL, start_new_session=True))
    with Client(scheduler_file=address_file, timeout=60) as client:
      client.wait_for_workers(2, timeout=120)
      address = client.scheduler.address
    dask = ['--pipeline_options=--runner=DaskRunner,'
            f'--dask_client_address={address}']
    first_s, chunks = _timed_encode(ckpt, folder,
                                    os.path.join(work, 'dask_1'), *dask)
    warm_s, _ = _timed_encode(ckpt, folder, os.path.join(work, 'dask_2'),
                              *dask)
  finally:
    for proc in reversed(procs):
      with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
  local_s, _ = _timed_encode(ckpt, folder, os.path.join(work, 'dask_local'),
                             '--pipeline_options=--runner=DaskRunner')
  direct_s, _ = _timed_encode(ckpt, folder, os.path.join(work, 'direct'))
  t = time.perf_counter()
  probe = subprocess.run([sys.executable, '-c', _IN_PROCESS_ENCODE, ckpt,
                          folder], check=True, capture_output=True, text=True)
  one_s = time.perf_counter() - t
  parts = json.loads(probe.stdout.strip().splitlines()[-1])
  return {'tunes': size, 'chunks': chunks, 'dask_first_s': first_s,
          'dask_warm_s': warm_s, 'dask_local_cluster_s': local_s,
          'direct_s': direct_s, 'one_process_s': one_s,
          'start_up_s': parts['start_s'], 'chunk_s': parts['chunk_s'],
          'encode_chunks_per_s': parts['chunks'] / parts['encode_s'],
          'load_average': os.getloadavg()}


def matmul_flops():
  """The best matmul rates (FLOP/s): of all, and of square ones alone (the
  peak of earlier tables). MidiMe's widest layers at a batch of 4,096 are
  measured too: one run's square matmuls read lower than MidiMe's own
  training reached."""
  best = square = 0.0
  for m, k, n in ((512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
                  (4096, 256, 1024), (4096, 1024, 256)):
    a, b = tf.random.normal([m, k]), tf.random.normal([k, n])
    f = tf.function(tf.matmul)
    f(a, b).numpy()
    reps = max(5, int(2e10 / (2 * m * k * n)))
    t = time.perf_counter()
    for _ in range(reps):
      r = f(a, b)
    r.numpy()
    rate = 2 * m * k * n * reps / (time.perf_counter() - t)
    best = max(best, rate)
    square = max(square, rate) if m == k == n else square
  return best, square


def training_flops_per_epoch(hp, input_size, n):
  widths = [input_size, *hp.encoder_layers]
  macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
  macs += 2 * hp.encoder_layers[-1] * hp.latent_size
  widths = [hp.latent_size, *hp.decoder_layers, input_size]
  macs += sum(a * b for a, b in zip(widths[:-1], widths[1:]))
  return 6 * macs * n  # Forward 2 FLOP per MAC; backward about twice that.


def bench_training(latents, peak, square_peak):
  """100 epochs on 64 and 1,024 chunks: the first call (with its trace or
  compile) and the steady rate (best of 3 more calls)."""
  rows = {}
  for n in (64, 1024):
    z = latents[np.arange(n) % len(latents)]
    for jit in (False, True):
      model = midime_model.MidiMe(z.shape[1], seed=0)
      t = time.perf_counter()
      model.train(z, epochs=100, jit_compile=jit)
      first = time.perf_counter() - t
      steady = float('inf')
      for _ in range(3):
        t = time.perf_counter()
        model.train(z, epochs=100, jit_compile=jit)
        steady = min(steady, time.perf_counter() - t)
      flops = training_flops_per_epoch(model.hparams, z.shape[1], n) * 100
      rows[f'{n} chunks{" (XLA)" if jit else ""}'] = {
          'first_100_epochs_s': first, 'steady_100_epochs_s': steady,
          'gflops': flops / steady / 1e9,
          'fraction_of_matmul': flops / steady / peak,
          'fraction_of_square_matmul': flops / steady / square_peak}
  return rows


def bench_end_to_end(ckpt, tune, work, reps):
  """Cold `midime_train` against a bare import of what every MusicVAE script
  imports (the floor), runs interleaved, best of `reps`; and the best run's
  phases, each measured by the script's own spans (MIDIME_SPANS), the
  interpreter's exit being the wall time after the last of them."""
  bare_import = [sys.executable, '-c', 'import os; '
                 'os.environ["TF_USE_LEGACY_KERAS"] = "1"; '
                 'import magenta.models.music_vae, note_seq']
  train = [os.path.join(BIN, 'midime_train'), f'--config={CONFIG}',
           f'--checkpoint_file={ckpt}', f'--input_midi={tune}',
           f'--run_dir={os.path.join(work, "e2e_run")}', '--overwrite',
           '--log=ERROR']
  spans_file = os.path.join(work, 'spans.json')
  env = dict(os.environ, MIDIME_SPANS=spans_file)
  bare, wall, rss, spans = float('inf'), float('inf'), 0.0, None
  for _ in range(reps):
    bare = min(bare, run_timed(bare_import, 1)[0])
    seconds, peak = run_timed(train, 1, env=env)
    rss = max(rss, peak)
    if seconds < wall:
      with open(spans_file, encoding='utf-8') as f:
        wall, spans = seconds, json.load(f)
  phases = dict(sorted(spans['spans'].items(), key=lambda kv: -kv[1]))
  phases['interpreter exit (after the last span)'] = (
      wall - spans['process_seconds'])
  return {'wall_s': wall, 'peak_rss_mib': rss, 'phases_s': phases,
          'phases_sum_s': sum(phases.values()),
          'bare_import_s': bare, 'ratio_to_bare_import': wall / bare}


def table(results):
  out = [f'Machine: {results["machine"]["cores"]} cores, '
         f'{results["machine"]["cpu"]}; TF {results["machine"]["tensorflow"]}']
  out.append('\n1. Generation wall time (best of runs), ratio to '
             'music_vae_generate --mode=sample; ours at its defaults (piano '
             'rolls on; target <= 1.05)')
  for n, r in results.get('generate', {}).items():
    out.append(f'  n={n:>3}: music_vae_generate {r["music_vae_generate_s"]:.2f} s'
               f' | prior {r["prior_s"]:.2f} s ({r["prior_ratio"]:.3f}x)'
               f' | sample {r["sample_s"]:.2f} s ({r["sample_ratio"]:.3f}x)'
               f' | sample --nopiano_rolls {r["sample_no_rolls_s"]:.2f} s '
               f'({r["sample_no_rolls_ratio"]:.3f}x)')
  if 'checkpoints' in results:
    out.append(f'  midime_checkpoints: {results["checkpoints"]["wall_s"]:.2f} s '
               '(target <= 0.5 s)')
  out.append('\n2. Encoding, chunks/s: ours vs bare TrainedModel.encode_tensors '
             'at its best batch (target >= 0.95)')
  for name, r in results.get('encoding', {}).items():
    bare = ', '.join(f'{b}: {v:.0f}' for b, v in r['bare_chunks_per_s'].items())
    out.append(f'  {name} ({r["chunks"]} chunks): ours {r["ours_chunks_per_s"]:.0f}'
               f' | bare {bare} | ratio {r["ratio"]:.3f}')
  out.append(f'\n3. Training, 100 epochs (matmul peak '
             f'{results.get("matmul_gflops", 0):.1f} GFLOP/s, square matmuls '
             f'alone {results.get("square_matmul_gflops", 0):.1f}; target >= '
             '0.5 of the first)')
  for name, r in results.get('training', {}).items():
    out.append(f'  {name:18}: first call {r["first_100_epochs_s"]:.2f} s, '
               f'steady {r["steady_100_epochs_s"]:.2f} s, {r["gflops"]:.1f} '
               f'GFLOP/s = {r["fraction_of_matmul"]:.2f} of matmul '
               f'({r["fraction_of_square_matmul"]:.2f} of square)')
  warm = results.get('warm_training')
  if warm:
    out.append(f'  warm Personalizer.train, 3-minute tune ({warm["chunks"]} '
               f'chunks, 100 epochs): {warm["wall_s"]:.2f} s (training '
               f'{warm["training_s"]:.2f} s) vs arithmetic '
               f'{warm["arithmetic_s"]:.2f} s = {warm["ratio"]:.1f}x '
               '(target <= 2)')
  if results.get('pipeline'):
    out.append('\n6. midime_encode on Beam (DirectRunner, 2 worker processes, '
               'its defaults) against the same work in one process '
               '(wall, chunks/s; ratio > 1: Beam is faster)')
    for name, r in results['pipeline'].items():
      out.append(f'  {name} ({r["chunks"]} chunks): Beam {r["beam_s"]:.1f} s '
                 f'({r["beam_chunks_per_s"]:.0f}/s) | one process '
                 f'{r["in_process_s"]:.1f} s ({r["in_process_chunks_per_s"]:.0f}'
                 f'/s) | ratio {r["ratio"]:.2f} | per worker: start-up '
                 f'{r["start_up_per_worker_s"]:.1f} s, chunking '
                 f'{r["chunk_s"]:.1f} s, encoding '
                 f'{r["encode_chunks_per_s"]:.0f} chunks/s')
  dk = results.get('dask')
  if dk:
    rate = lambda k: dk['chunks'] / dk[k]  # pylint: disable=unnecessary-lambda-assignment
    out.append(f'\n8. midime_encode on Dask, {dk["tunes"]} tunes '
               f'({dk["chunks"]} chunks), wall and chunks/s; ratio to one '
               'process (> 1: faster)')
    for key, name in (('dask_first_s', 'Dask, 2 workers, first job'),
                      ('dask_warm_s', 'Dask, 2 workers, warm workers'),
                      ('dask_local_cluster_s', 'Dask, its own local cluster'),
                      ('direct_s', 'DirectRunner, 2 processes'),
                      ('one_process_s', 'one process')):
      out.append(f'  {name:30} {dk[key]:6.1f} s {rate(key):6.0f}/s '
                 f'{dk["one_process_s"] / dk[key]:5.2f}x')
    out.append(f'  one process: start-up {dk["start_up_s"]:.1f} s, chunking '
               f'{dk["chunk_s"]:.1f} s, encoding {dk["encode_chunks_per_s"]:.0f}'
               f' chunks/s; load average {dk["load_average"][0]:.1f}')
  st = results.get('studio')
  if st and 'skipped' in st:
    out.append(f'\n7. MidiMe Studio: skipped ({st["skipped"]})')
  elif st:
    out.append(f'\n7. MidiMe Studio in chromium (mel_2bar_small, '
               f'{st["synthesizer"]}): a MidiMe slider to its audio '
               f'{st["slider_median_s"]:.2f} s median, '
               f'{st["slider_worst_s"]:.2f} s worst of {st["slider_moves"]} '
               '(target <= 1 s)')
    out.append('  step 1, release to a playable roll: MusicVAE slider '
               f'{st["sample_slider_median_s"] or float("nan"):.3f} s, super '
               f'slider {st["super_slider_median_s"] or float("nan"):.3f} s '
               'median (target <= 0.15 s)')
    out.append(f'  training a 3-minute tune, 100 epochs: page '
               f'{st["page_training_s"]:.2f} s vs Personalizer.train '
               f'{st["api_training_s"]:.2f} s = {st["training_ratio"]:.2f}x '
               f'(target <= 1.2; the server\'s own part '
               f'{st["page_server_training_s"]:.1f} s; first in the process: '
               f'page {st["page_first_training_s"]:.2f} s, API '
               f'{st["api_first_training_s"]:.2f} s)')
    out.append(f'  and vs Personalizer.train(chunked, z=mu) on chunks cut and '
               f'encoded before, as the page\'s are: '
               f'{st["api_encoded_training_s"]:.2f} s = '
               f'{st["training_ratio_encoded"]:.2f}x')
    out.append(f'  server memory: {st["server_mb_no_tab"]:.0f} MB, with 5 '
               f'trained tabs {st["server_mb_five_tabs"]:.0f} MB '
               f'({st["mb_per_tab"]:.0f} MB a tab)')
  tabs = results.get('studio_tabs')
  if tabs:
    out.append(f'  {tabs["tabs"]} tabs over raw HTTP ({tabs["trained"]} '
               f'trained, {tabs["answered"]} answered in '
               f'{tabs["load_s"]:.0f} s): an idle tab waited at worst '
               f'{tabs["idle_page_worst_s"]:.2f} s for the page, '
               f'{tabs["idle_action_worst_s"]:.1f} s for an action; server '
               f'{tabs["server_mb_start"]:.0f} -> {tabs["server_mb_peak"]:.0f}'
               f' MB ({tabs["mb_per_tab"]:.0f} MB a tab), disk '
               f'{tabs["disk_mb_peak"]:.0f} MB at the peak '
               f'({tabs["disk_mb_per_tab"]:.1f} MB a tab); tabs closed: '
               f'{tabs["server_mb_after_close"]:.0f} MB, '
               f'{tabs["disk_mb_after_close"]:.1f} MB on disk; stopped in '
               f'{tabs["stop_s"]:.1f} s')
  e2e = results.get('end_to_end')
  if not e2e:
    return '\n'.join(out)
  out.append(f'\n4. midime_train on a 3-minute tune: {e2e["wall_s"]:.2f} s wall'
             f' = {e2e["ratio_to_bare_import"]:.2f}x a bare import of '
             f'magenta\'s music_vae and note_seq ({e2e["bare_import_s"]:.2f} s;'
             ' target <= 1.3). Its phases, measured (startup_lib spans):')
  for phase, s in e2e['phases_s'].items():
    out.append(f'  {phase:40} {s:6.2f} s')
  out.append(f'  {"sum":40} {e2e["phases_sum_s"]:6.2f} s (wall '
             f'{e2e["wall_s"]:.2f} s)')
  out.append(f'\n5. Peak RSS: midime_train {e2e["peak_rss_mib"]:.0f} MiB')
  if 100 in results.get('generate', {}):
    rss = results['generate'][100]['rss_mib']
    out.append(f'   midime_generate --mode=prior n=100 '
               f'{rss["midime_generate_prior"]:.0f} MiB; music_vae_generate '
               f'n=100 {rss["music_vae_generate"]:.0f} MiB')
  return '\n'.join(out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--reps', type=int, default=3)
  parser.add_argument('--only',
                      default='generate,encoding,training,end_to_end,pipeline,'
                      'dask,studio',
                      help='Comma-separated sections to run.')
  args = parser.parse_args()
  only = set(args.only.split(','))
  ckpt = testdata_lib.official_mel_2bar_small()
  if ckpt is None:
    sys.exit('bench: the official mel_2bar_small in ../shared is needed.')
  results = {'machine': machine()}
  with tempfile.TemporaryDirectory() as work:
    tune = three_minute_tune(os.path.join(work, 'three_minutes.mid'))
    folk = sorted(midi_io.find_input_files(testdata_lib.testdata_path('folk')))
    folder = write_tunes(os.path.join(work, 'hundred'), folk, range(-5, 5))
    run_dir = os.path.join(work, 'run')
    subprocess.run([os.path.join(BIN, 'midime_train'), f'--config={CONFIG}',
                    f'--checkpoint_file={ckpt}', f'--input_midi={tune}',
                    f'--run_dir={run_dir}', '--log=ERROR'], check=True)
    if 'generate' in only:
      print('generation ...', file=sys.stderr)
      results['generate'] = bench_generate(ckpt, run_dir, work, args.reps)
      results['checkpoints'] = bench_checkpoints(args.reps)
    if 'encoding' in only:
      print('encoding ...', file=sys.stderr)
      results['encoding'] = bench_encoding(ckpt, tune, folder, args.reps)
    if 'training' in only:
      print('training ...', file=sys.stderr)
      best, square = matmul_flops()
      results['matmul_gflops'] = best / 1e9
      results['square_matmul_gflops'] = square / 1e9
      vae = music_vae_lib.load_music_vae(
          CONFIG, ckpt, batch_size=encoded_lib.ENCODE_BATCH_SIZE)
      latents = vae.encode_tensors(*chunk_all(folder, vae.config))
      results['training'] = bench_training(latents, best, square)
      results['warm_training'] = bench_warm_training(
          ckpt, tune, results['matmul_gflops'] * 1e9)
    if 'end_to_end' in only:
      print('end to end ...', file=sys.stderr)
      results['end_to_end'] = bench_end_to_end(ckpt, tune, work, args.reps)
    if 'studio' in only:
      print('studio ...', file=sys.stderr)
      sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
      import studio as studio_bench  # pylint: disable=g-import-not-at-top
      results['studio'] = studio_bench.bench_studio(ckpt, tune)
      results['studio_tabs'] = studio_bench.bench_tabs(ckpt, tune)
    if 'pipeline' in only:
      print('pipeline ...', file=sys.stderr)
      results['pipeline'] = bench_pipeline(ckpt, work)
    if 'dask' in only:
      print('dask ...', file=sys.stderr)
      results['dask'] = bench_dask(ckpt, work)
  os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
  path = os.path.join(ROOT, 'bench', 'results',
                      time.strftime('benchmark-%Y%m%d-%H%M%S.json'))
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=2, default=str)
  print(table(results))
  print(f'\nJSON: {path}')


if __name__ == '__main__':
  main()
