"""How midime_encode's pipeline runs: stoppable, failing in one line, leaving
nothing half-written; on Beam's DaskRunner, one step a group of files."""

import contextlib
import json
import logging as std_logging
import os
import shutil
import tempfile
import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from midime_magenta.encoding import encoded_lib
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import startup_lib


class EncodeFiles(beam.DoFn):
  """On Dask (whose file sinks misbehave), (index, total, names) -> its shard,
  written whole, and {'shard', 'chunks', 'sequences', 'skipped'}."""

  def __init__(self, chunk_files, encode_chunks, output_dir, claim):
    super().__init__()
    self._chunk, self._encode = chunk_files, encode_chunks
    self._output_dir, self._claim = output_dir, claim

  def setup(self):
    self._chunk.setup()
    self._encode.setup()

  def process(self, group):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    index, total, names = group
    outs = [out for name in names for out in self._chunk.process(name)]
    skipped = [o.value for o in outs if isinstance(o, beam.pvalue.TaggedOutput)]
    chunks = [o for o in outs if not isinstance(o, beam.pvalue.TaggedOutput)]
    size = self._encode.batch_size
    examples = [e for i in range(0, len(chunks), size)
                for e in self._encode.process(chunks[i:i + size])]
    shard = (f'{encoded_lib.SHARD_PREFIX}-{index:05d}-of-{total:05d}'
             f'{encoded_lib.SHARD_SUFFIX}')

    def write(tmp):
      with tf.io.TFRecordWriter(tmp) as writer:
        for example in examples:
          writer.write(example)

    claim = None  # None once the driver let the folder go.
    with contextlib.suppress(OSError), open(os.path.join(
        self._output_dir, file_util.LOCK_FILE), encoding='ascii') as f:
      claim = f.read().strip()
    if '://' not in self._output_dir and claim != self._claim:
      raise encoded_lib.EncodedError(
          f'A dask worker does not see this encoding\'s claim in --output_dir '
          f'{self._output_dir} (the encoding was stopped, or the workers do '
          'not share that folder); it wrote nothing.')
    file_util.write_atomically(os.path.join(self._output_dir, shard), write)
    yield {'shard': shard, 'chunks': len(examples),
           'sequences': len({c[:2] for c in chunks}), 'skipped': skipped}


DASK_RUNNER = 'apache_beam.runners.dask.dask_runner.DaskRunner'


def run_stoppably(pipeline, on_dask):
  """Runs the pipeline in a thread that Ctrl-C and SIGTERM stop at once;
  returns Beam's result and, on Dask, the groups' summaries."""
  outcome = {}

  def target():
    try:
      result = outcome['started'] = pipeline.run()
      with contextlib.closing(result.client) if on_dask else (
          contextlib.nullcontext()):
        result.wait_until_finish()
        if on_dask:  # What each group gave.
          outcome['summaries'] = [s for f in result.futures
                                  for s in f.result()]
      outcome['result'] = result
    except BaseException as e:  # pylint: disable=broad-except
      outcome['error'] = e

  thread = threading.Thread(target=target, name='beam-pipeline', daemon=True)
  thread.start()
  try:
    while thread.is_alive():
      thread.join(0.2)
  except KeyboardInterrupt:
    # Beam's threads then fail on the ended workers: not news, as we stop.
    threading.excepthook = lambda unused_args: None
    std_logging.getLogger('apache_beam').setLevel(std_logging.CRITICAL + 1)
    if not on_dask:  # SIGKILLs every process below this one.
      import psutil  # pylint: disable=g-import-not-at-top  (Beam's extra's)
      for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
          child.kill()
    elif 'started' in outcome:
      with contextlib.suppress(Exception):
        outcome['started'].cancel()
        outcome['started'].client.close(timeout=5)
    raise
  if 'error' in outcome:
    if 'started' not in outcome and isinstance(outcome['error'], OSError):
      raise Unreachable(outcome['error'])
    raise outcome['error']
  return outcome['result'], outcome.get('summaries')


class Unreachable(Exception):
  """The runner could not start: its cluster did not answer."""


def remove_temporaries(output_dir, shards_too=False):
  """Removes a local output folder's `beam-temp-*` folders and temporary
  files; with `shards_too`, this run's shards and skipped list too."""
  if '://' in str(output_dir) or not os.path.isdir(output_dir):
    return
  for entry in os.scandir(output_dir):
    if entry.is_dir() and entry.name.startswith('beam-temp-'):
      shutil.rmtree(entry.path, ignore_errors=True)
    elif file_util.is_temporary(entry.name) or shards_too and (
        entry.name.startswith((f'{encoded_lib.SHARD_PREFIX}-',
                               f'{encoded_lib.SKIPPED_PREFIX}-'))):
      with contextlib.suppress(OSError):
        os.remove(entry.path)


def failed(e, output_dir, pipeline_options):
  """Removes what the run wrote; returns a MidiMeError in one line for a
  failure the user can act on, else `e`."""
  remove_temporaries(output_dir, shards_too=True)
  text = f'{type(e).__name__}: {e}'
  if isinstance(e, Unreachable):
    address = PipelineOptions(list(pipeline_options)).get_all_options().get(
        'address') or 'its address'
    return errors.UsageError(
        f'--pipeline_options: no dask scheduler answers at {address} '
        f'({e.args[0]}); start one (dask scheduler) or correct '
        '--dask_client_address.')
  if type(e).__name__ == 'KilledWorker':
    return encoded_lib.EncodedError(
        'Dask workers died again and again on one part of the catalogue '
        f'({e}); the encoding was stopped and nothing of it kept: run again, '
        'and see the workers\' logs.')
  for errno, why in ((28, 'is full'), (30, 'is read-only')):
    if f'[Errno {errno}]' in text or os.strerror(errno) in text:
      return encoded_lib.EncodedError(
          f'--output_dir {output_dir}: its filesystem {why}; nothing of the '
          'encoding was kept.')
  return e


@contextlib.contextmanager
def dask_cluster(options, files):
  """(Beam's DaskRunner options, (index, total, names) groups of `files`):
  --dask_npartitions groups, else one per 16 files up to 32 and one per 100
  beyond, dealt out in turn, each a shard and a Dask partition (one worker's
  task); on a local cluster of a worker a core on 127.0.0.1 if none is named."""
  # dask's client and a local scheduler log every connection at INFO.
  std_logging.getLogger('distributed').setLevel(std_logging.ERROR)
  given = PipelineOptions(options).get_all_options()
  count = given.get('npartitions') or max(min(len(files) // 16, 32),
                                          -(-len(files) // 100))
  count = max(1, min(count, len(files)))
  names = [f.encode('utf-8', 'surrogateescape') for f in files]
  groups = [(i, count, names[i::count]) for i in range(count)]
  options = [o for o in options if not o.startswith(
      ('--dask_npartitions', '--dask_partition_size'))]
  options.append(f'--dask_npartitions={count}')
  if given.get('address') or given.get('scheduler_file'):
    if given.get('timeout') is None:  # dask waits 30 s for an absent one.
      options.append('--dask_connection_timeout=10')
    yield options, groups
    return
  import distributed  # pylint: disable=g-import-not-at-top
  # Its workers' logs stay out of the terminal (errors reach the driver).
  with tempfile.TemporaryFile() as log:
    with startup_lib.native_stderr_to(log):
      cluster = distributed.LocalCluster(
          n_workers=os.cpu_count() or 1, threads_per_worker=1,
          host='127.0.0.1', dashboard_address=None,
          silence_logs=std_logging.ERROR)
    with cluster:
      options.append(f'--dask_client_address={cluster.scheduler_address}')
      yield options, groups


def write_dask_skipped(summaries, groups, skipped, output_dir):
  """Checks each group came back once, writes the skipped list (and the
  driver's `skipped` rows), returns the counts."""
  shards = sorted(s['shard'] for s in summaries)
  if len(set(shards)) != len(groups) or len(shards) != len(groups):
    remove_temporaries(output_dir, shards_too=True)
    raise encoded_lib.EncodedError(
        f'Dask returned {len(set(shards))} of {len(groups)} parts of the '
        'encoding; nothing of it was kept: run again.')
  lines = sorted(json.dumps(x, sort_keys=True) + '\n' for x in [
      *(x for s in summaries for x in s['skipped']), *skipped])
  try:
    file_util.write_atomically(os.path.join(
        output_dir, f'{encoded_lib.SKIPPED_PREFIX}-00000-of-00001'
        f'{encoded_lib.SKIPPED_SUFFIX}'), ''.join(lines).encode())
  except errors.MidiMeError as e:
    raise failed(e, output_dir, ()) from None
  return {'shards': shards, 'skipped': sum(len(s['skipped']) for s in summaries),
          **{k: sum(s[k] for s in summaries) for k in ('chunks', 'sequences')}}
