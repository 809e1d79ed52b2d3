"""midime_encode's Apache Beam pipeline: MIDI in, MusicVAE mu out, at scale.

  paths --Reshuffle--> ChunkFiles --BatchElements--> EncodeChunks --> shards
  ChunkFiles's 'skipped' output --> skipped-00000-of-00001.jsonl
  then, from the driver, manifest.json (counts from Beam's metrics).
"""

import contextlib
import json
import logging as std_logging
import os
import sys
import tempfile

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options import pipeline_options_validator
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners import runner as beam_runner
from apache_beam.utils import shared

from midime_magenta.encoding import encode_run_lib
from midime_magenta.encoding import encoded_lib
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import startup_lib

NAMESPACE = 'midime_encode'


def _resolve(config_name, checkpoint_file):
  """(MidiMe config, checkpoint prefix), in the driver or a worker."""
  # pylint: disable=g-import-not-at-top
  startup_lib.import_quietly()
  from midime_magenta import music_vae_lib
  return music_vae_lib.resolve_config(config_name, checkpoint_file)


def skipped_row(source, reason):
  """A line of the skipped list."""
  return {'source': file_util.shown_name(source),
          'reason': file_util.shown_name(str(reason))}


def _skip(source, reason):
  Metrics.counter(NAMESPACE, 'skipped').inc()
  return beam.pvalue.TaggedOutput('skipped', skipped_row(source, reason))


class ChunkFiles(beam.DoFn):
  """A file path -> its chunks, as (path, record, chunk, start, input, length,
  control); the 'skipped' output gets {'source', 'reason'}."""

  def __init__(self, config_name, checkpoint_file, instrument=None,
               program=None, trio_tracks=None, hop_bars=None):
    super().__init__()
    self._args = (config_name, checkpoint_file)
    self._choice = (instrument, program, trio_tracks or None, hop_bars)
    self._converter_config = None

  def setup(self):
    from midime_magenta import configs  # pylint: disable=g-import-not-at-top
    config, _ = _resolve(*self._args)
    self._converter_config = configs.get_music_vae_config(config)

  def process(self, name):
    # pylint: disable=g-import-not-at-top
    from midime_magenta import chunking_lib
    from midime_magenta import midi_io
    Metrics.counter(NAMESPACE, 'files').inc()
    path = name.decode('utf-8', 'surrogateescape')
    try:
      if path.lower().endswith(midi_io.TFRECORD_EXTENSIONS):
        sequences = list(enumerate(
            ns for _, ns in midi_io.read_note_sequences(path)))
      else:
        with FileSystems.open(path) as f:
          sequences = [(-1, midi_io.read_midi_bytes(
              f.read(midi_io.MAX_MIDI_BYTES + 1), path))]
    except (midi_io.InputError, OSError) as e:
      yield _skip(path, e)
      return
    for record, ns in sequences:
      source = file_util.shown_name(encoded_lib.source_name(path, record))
      try:
        chunked = chunking_lib.chunk_note_sequence(
            ns, self._converter_config, source, *self._choice)
      except midi_io.InputError as e:
        yield _skip(source, e)
        continue
      if not chunked.num_chunks:
        yield _skip(source, chunked.reason)
        continue
      Metrics.counter(NAMESPACE, 'sequences').inc()
      for i in range(chunked.num_chunks):
        yield (name, record, i, float(chunked.starts[i]), chunked.inputs[i],
               chunked.lengths[i],
               chunked.controls[i] if chunked.controls else None)


class EncodeChunks(beam.DoFn):
  """Batches of chunks -> serialized tf.train.Examples of their mu (MusicVAE
  restored once a process through Beam's Shared, as Dask calls `setup` for
  every partition; refused unless the driver's fingerprint)."""

  def __init__(self, config_name, checkpoint_file, fingerprint, batch_size):
    super().__init__()
    self._args = (config_name, checkpoint_file)
    self._fingerprint = fingerprint
    self.batch_size = batch_size
    self._shared = shared.Shared()
    self._music_vae = None

  def setup(self):
    from midime_magenta import music_vae_lib  # pylint: disable=g-import-not-at-top
    self._music_vae = self._shared.acquire(
        lambda: music_vae_lib.load_music_vae(*_resolve(*self._args),
                                             batch_size=self.batch_size))
    if self._music_vae.fingerprint != self._fingerprint:
      raise RuntimeError(
          f'The worker\'s checkpoint {self._args[1]} is not the one the '
          'pipeline was started with (fingerprints differ).')

  def process(self, batch):
    controls = [c[6] for c in batch if c[6] is not None]
    mu = self._music_vae.encode_tensors(
        [c[4] for c in batch], [c[5] for c in batch], controls,
        progress=False)
    Metrics.counter(NAMESPACE, 'chunks').inc(len(batch))
    for (path, record, chunk, start, *_), m in zip(batch, mu):
      yield encoded_lib.chunk_example(m, path, record, chunk, start)


def list_files(inputs):
  """(The files of comma-separated inputs, local or URLs through Beam; the
  skipped list's rows of those that cannot be read)."""
  from midime_magenta import midi_io  # pylint: disable=g-import-not-at-top
  files, skipped = [], []
  for spec in [s.strip() for s in str(inputs).split(',') if s.strip()]:
    if '://' not in spec:
      files += midi_io.find_input_files(spec, skipped)
      continue
    pattern = spec if any(ch in spec for ch in '*?[') else (
        spec.rstrip('/') + '/**')
    try:
      matched = [m.path for r in FileSystems.match([pattern])
                 for m in r.metadata_list]
    except OSError as e:  # BeamIOError, nesting the reasons of each pattern.
      while getattr(e, 'exception_details', None):
        e = next(iter(e.exception_details.values()))
      hint = (' (pip install "apache-beam[gcp]")' if 'GCP dependencies' in
              str(e) else '')
      raise midi_io.InputError(
          f'--input_midi {spec} cannot be listed: {e}{hint}') from None
    found = sorted(p for p in matched if p.lower().endswith(
        midi_io.MIDI_EXTENSIONS + midi_io.TFRECORD_EXTENSIONS))
    if not found:
      raise midi_io.InputError(f'{spec!r} names no MIDI or TFRecord files.')
    files += found
  return sorted(dict.fromkeys(files)), [skipped_row(p, why)
                                        for p, why in skipped]


def check_before_work(inputs, output_dir, pipeline_options):
  """UsageError, before any work, for places or options Beam would refuse;
  else (the options to run with, whether they name Dask)."""
  places = [('--input_midi', s.strip()) for s in str(inputs).split(',')]
  for flag, where in [*places, ('--output_dir', str(output_dir))]:
    try:
      FileSystems.get_filesystem(where)  # Local paths always have one.
    except ValueError:
      raise errors.UsageError(
          f'{flag} {where}: Beam has no filesystem for '
          f'{where.split("://", 1)[0]}:// here (gs:// needs pip install '
          '"apache-beam[gcp]"; http(s) is not one: download the files '
          'first).') from None
  encoded_lib.check_location(str(output_dir), '--output_dir')
  dask = f'--runner={encode_run_lib.DASK_RUNNER}'  # The name Beam finds.
  options = [dask if o.replace('-', '').lower() in (
      'runner=daskrunner', 'runner=dask') else o for o in pipeline_options]
  parsed = PipelineOptions(options)
  name = parsed.view_as(StandardOptions).runner or 'DirectRunner'
  try:
    runner = beam_runner.create_runner(name)
  except (ValueError, ImportError) as e:
    why = 'Beam has no such runner' if isinstance(e, ValueError) else (
        f'it needs more of Beam installed: {e}')
    raise errors.UsageError(
        f'--pipeline_options asks for runner {name}, but {why}; use '
        'DirectRunner (this machine), DaskRunner (the beam extra) or '
        'DataflowRunner.') from None
  problems = pipeline_options_validator.PipelineOptionsValidator(
      parsed, runner).validate()
  if problems:
    raise errors.UsageError(
        f'--pipeline_options for {name}: {" ".join(problems)}')
  # Beam's workers log every bundle at INFO; our own lines say enough.
  if not any(o.startswith('--default_sdk_harness_log_level')
             for o in options):
    options.append('--default_sdk_harness_log_level=WARNING')
  return options, name == encode_run_lib.DASK_RUNNER


def encode(inputs, output_dir, config_name, checkpoint_file,
           pipeline_options=encoded_lib.DEFAULT_PIPELINE_OPTIONS,
           batch_size=encoded_lib.ENCODE_BATCH_SIZE, instrument=None,
           program=None, trio_tracks=None, hop_bars=None, check_config=None):
  """Encodes MIDI into a new folder; returns the manifest written.

  `inputs` are comma-separated files, folders, globs or URLs; `check_config`
  sees the config before any file is read; the rest is as `midime_train` takes
  it. Raises errors.MidiMeError (bad folder, input or checkpoint, or busy)."""
  options, on_dask = check_before_work(inputs, output_dir, pipeline_options)
  # pylint: disable=g-import-not-at-top
  from midime_magenta import checkpoints  # TensorFlow and magenta: after it.
  from midime_magenta import configs
  from midime_magenta import run_lib
  from absl import logging
  # Claimed while written, or a second encoding would replace the first (a
  # bucket has no lock file: checked once).
  with contextlib.nullcontext(encoded_lib.check_output_dir(output_dir)) if (
      '://' in str(output_dir)) else file_util.claimed_folder(
          output_dir, lambda: encoded_lib.check_output_dir(output_dir),
          encoded_lib.EncodedError, keep=lambda folder: False,
          what='--output_dir'):
    # A killed run's temporaries; the folder is ours.
    encode_run_lib.remove_temporaries(output_dir)
    config, prefix = _resolve(config_name, checkpoint_file)
    if check_config is not None:
      check_config(config)
    # Here, once: in the workers a misfit would be a traceback per worker.
    checkpoints.check_checkpoint_fits_config(config, prefix)
    z_size = configs.get_music_vae_config(config).hparams.z_size
    fingerprint = checkpoints.checkpoint_fingerprint(prefix)
    # Workers resolve a name or URL themselves; a local path is made absolute.
    worker_checkpoint = (os.path.abspath(checkpoint_file)
                         if os.path.exists(str(checkpoint_file))
                         else checkpoint_file)
    files, skipped = list_files(inputs)
    logging.info('Encoding %d files with MusicVAE %s (%s) ...', len(files),
                 config.music_vae_config, ' '.join(pipeline_options))
    std_logging.getLogger('apache_beam').setLevel(std_logging.WARNING)
    chunk_files = ChunkFiles(config_name, worker_checkpoint, instrument,
                             program, trio_tracks, hop_bars)
    encode_chunks = EncodeChunks(config_name, worker_checkpoint, fingerprint,
                                 batch_size)
    if on_dask:
      with encode_run_lib.dask_cluster(options, files) as (options, groups):
        pipeline = beam.Pipeline(options=PipelineOptions(options))
        _ = (pipeline | 'Groups' >> beam.Create(groups)
             | 'Encode' >> beam.ParDo(encode_run_lib.EncodeFiles(
                 chunk_files, encode_chunks, output_dir, str(os.getpid()))))
        summaries = _run(pipeline, output_dir, on_dask, pipeline_options)
      counts = encode_run_lib.write_dask_skipped(summaries, groups, skipped,
                                                 output_dir)
    else:
      pipeline = _pipeline(options, files, skipped, output_dir, chunk_files,
                           encode_chunks)
      counts = _run(pipeline, output_dir, on_dask, pipeline_options)
    manifest = {
        'music_vae': run_lib.describe_music_vae(config.music_vae_config,
                                                z_size, fingerprint),
        'config': config.name, 'checkpoint': str(checkpoint_file),
        'inputs': str(inputs), 'files': len(files), **counts,
        'skipped': counts['skipped'] + len(skipped),
        'pipeline_options': list(pipeline_options)}
    try:
      encoded_lib.write_manifest(output_dir, manifest)
    except errors.MidiMeError as e:
      raise encode_run_lib.failed(e, output_dir, pipeline_options) from None
    logging.info('Encoded %d chunks of %d sequences (%d inputs skipped, see '
                 '%s-*%s) into %d shards in %s.', manifest['chunks'],
                 manifest['sequences'], manifest['skipped'],
                 encoded_lib.SKIPPED_PREFIX, encoded_lib.SKIPPED_SUFFIX,
                 len(manifest['shards']), output_dir)
    return manifest


def _pipeline(options, files, skipped, output_dir, chunk_files,
              encode_chunks):
  """The Beam pipeline of every runner but Dask."""
  pipeline = beam.Pipeline(options=PipelineOptions(options))
  chunked = (pipeline
             # As bytes: a name that is not UTF-8 must not stop the rest.
             | 'Files' >> beam.Create(
                 [f.encode('utf-8', 'surrogateescape') for f in files])
             | 'Spread' >> beam.Reshuffle()
             | 'Chunk' >> beam.ParDo(chunk_files).with_outputs(
                 'skipped', main='chunks'))
  batch_size = encode_chunks.batch_size
  _ = (chunked.chunks
       | 'Batch' >> beam.BatchElements(min_batch_size=min(64, batch_size),
                                       max_batch_size=batch_size)
       | 'Encode' >> beam.ParDo(encode_chunks)
       | 'WriteEncoded' >> beam.io.WriteToTFRecord(
           os.path.join(output_dir, encoded_lib.SHARD_PREFIX),
           file_name_suffix=encoded_lib.SHARD_SUFFIX))
  _ = ((chunked.skipped,
        pipeline | 'Unlisted' >> beam.Create(skipped))
       | 'AllSkipped' >> beam.Flatten()
       | 'ToJson' >> beam.Map(lambda x: json.dumps(x, sort_keys=True))
       | 'WriteSkipped' >> beam.io.WriteToText(
           os.path.join(output_dir, encoded_lib.SKIPPED_PREFIX),
           file_name_suffix=encoded_lib.SKIPPED_SUFFIX, num_shards=1))
  return pipeline


def _run(pipeline, output_dir, on_dask, pipeline_options):
  """Runs the pipeline; returns its counts (chunks, sequences, skipped, shards)
  or, on Dask, the groups' summaries. Workers' native stderr lines (Beam's and
  TF's start-up noise) are shown only if it fails."""
  with tempfile.TemporaryFile() as worker_log:
    try:
      with startup_lib.native_stderr_to(worker_log):
        result, summaries = encode_run_lib.run_stoppably(pipeline, on_dask)
    except KeyboardInterrupt:  # A stop needs no workers' log.
      encode_run_lib.remove_temporaries(output_dir, shards_too=True)
      raise
    except BaseException as e:
      failure = encode_run_lib.failed(e, output_dir, pipeline_options)
      if failure is not e:
        raise failure from None
      if not isinstance(e, errors.MidiMeError):
        worker_log.seek(0)
        sys.stderr.write(worker_log.read().decode('utf-8', 'replace')[-8000:])
      raise
  if on_dask:
    encode_run_lib.remove_temporaries(output_dir)  # A lost worker's temporaries.
    return summaries
  counters = result.metrics().query(
      MetricsFilter().with_namespace(NAMESPACE))['counters']
  counts = {k: int(sum(c.committed or 0 for c in counters
                       if c.key.metric.name == k))
            for k in ('chunks', 'sequences', 'skipped')}
  pattern = os.path.join(output_dir, f'{encoded_lib.SHARD_PREFIX}-*-of-*'
                         f'{encoded_lib.SHARD_SUFFIX}')
  counts['shards'] = sorted(os.path.basename(m.path) for r in
                            FileSystems.match([pattern])
                            for m in r.metadata_list)
  return counts
