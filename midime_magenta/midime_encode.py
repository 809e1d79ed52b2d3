r"""Encodes a whole catalogue of MIDI with MusicVAE, on Apache Beam.

Cuts every file as midime_train does (the same windows, track choice and
order), encodes the chunks to MusicVAE's mu (the checkpoint restored once per
worker) and writes sharded TFRecords, a skipped list and a manifest to
--output_dir; train on them with `midime_train --input_encoded=<output_dir>`.

Runs on Beam's DirectRunner with 2 processes by default, or any runner named
in --pipeline_options, Dask's included (docs/encode_beam.md). Needs the beam
extra (not on PyPI): pip install '/path/to/midime_magenta[beam]'.

Example usage:
  midime_encode --checkpoint_file=mel_2bar_small --config=cat-mel_2bar_small \
    --input_midi='my_catalogue/' --output_dir=encoded/
  midime_train --checkpoint_file=mel_2bar_small --config=cat-mel_2bar_small \
    --input_encoded=encoded/ --run_dir=my_midime

  # On a dask cluster (started with `dask scheduler`, `dask worker`):
  midime_encode --checkpoint_file=mel_2bar_small --config=cat-mel_2bar_small \
    --input_midi='my_catalogue/' --output_dir=encoded/ \
    --pipeline_options=--runner=DaskRunner,--dask_client_address=HOST:8786

  # On Dataflow (workers need this package; see README):
  midime_encode --checkpoint_file=gs://my-bucket/mel_2bar_small.tar \
    --config=cat-mel_2bar_small --input_midi='gs://my-bucket/midi/' \
    --output_dir=gs://my-bucket/encoded/ \
    --pipeline_options=--runner=DataflowRunner,--project=my-project,\
--region=us-central1,--temp_location=gs://my-bucket/tmp,\
--sdk_container_image=us-docker.pkg.dev/my-project/midime/worker:latest
"""

import importlib.util
import logging as std_logging
import signal
import threading

from absl import flags

from midime_magenta import encoding
from midime_magenta import errors
from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_common_flags()
  flags.DEFINE_string('input_midi', None, 'MIDI files, folders, globs or '
                      'TFRecords of NoteSequences, comma-separated; URLs '
                      '(gs://...) too.')
  flags.DEFINE_string('output_dir', None, 'A new folder (or URL) for the '
                      'shards and the manifest.')
  flags.DEFINE_list('pipeline_options',
                    list(encoding.DEFAULT_PIPELINE_OPTIONS),
                    'Beam pipeline options, comma-separated.')
  script_util.define_batch_size_flag(encoding.ENCODE_BATCH_SIZE,
                                     'Chunks per MusicVAE batch.',
                                     old_name='batch_size')
  script_util.define_track_flags()


def run():
  for name in ('checkpoint_file', 'input_midi', 'output_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  if threading.current_thread() is threading.main_thread():
    # SIGTERM stops an encoding as Ctrl-C does (one line, exit 130).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
  if importlib.util.find_spec('apache_beam') is None:
    raise errors.UsageError(
        'midime_encode needs Apache Beam: install this package with its '
        'beam extra (pip install "/path/to/midime_magenta[beam]").')
  std_logging.disable(std_logging.WARNING)  # Beam's "apitools not found".
  try:
    encode = encoding.encode
  finally:
    std_logging.disable(std_logging.NOTSET)
  # pylint: disable=g-import-not-at-top
  from midime_magenta import chunking_lib
  from midime_magenta import configs
  if FLAGS.config is not None:
    configs.get_config(FLAGS.config)  # Fail before fetching anything.
  encode(
      FLAGS.input_midi, FLAGS.output_dir, FLAGS.config, FLAGS.checkpoint_file,
      FLAGS.pipeline_options, FLAGS.max_batch_size, FLAGS.instrument,
      FLAGS.program, script_util.trio_tracks_from_flags(), FLAGS.hop_bars,
      check_config=lambda config: script_util.check_track_flags(
          chunking_lib.converter_kind(configs.get_music_vae_config(config)),
          config.name))


def console_entry_point():
  script_util.run_console_script(define_flags, run)


if __name__ == '__main__':
  console_entry_point()
