r"""Trains MidiMe on your own MIDI, on top of a frozen, pretrained MusicVAE.

Cuts the inputs into chunks, encodes them with the MusicVAE, trains a small
VAE on their latents and saves it, with TensorBoard events, a loss plot and a
summary, into --run_dir.

Example usage:
  midime_train --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --input_midi=my_tune.mid --run_dir=/path/to/my_midime
  # Folders, globs and TFRecords; more epochs; hyperparameters:
  midime_train --config=cat-mel_2bar_small --checkpoint_file=mel_2bar_small \
    --input_midi='tunes/,more/*.mid' --run_dir=run --num_epochs=300 \
    --hparams='latent_size=8,encoder_layers=[512,64]'
  # Trios, the tracks picked from the song (or --melody_track=2 ...):
  midime_train --checkpoint_file=trio_4bar --input_midi=song.mid --run_dir=run
  # midime_encode's output; attribute vectors from your MIDI:
  midime_train --checkpoint_file=... --input_encoded=encoded/ --run_dir=run \
    --attributes_from=my_collection/
"""

import time

from absl import flags
from absl import logging

from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import script_util
from midime_magenta import startup_lib

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_common_flags()
  flags.DEFINE_string('input_midi', None, 'MIDI files, directories, globs or '
                      'TFRecords of NoteSequences, comma-separated.')
  flags.DEFINE_string('input_encoded', None, 'Instead of --input_midi: a '
                      'midime_encode output folder, made with the same '
                      'checkpoint.')
  flags.DEFINE_string('run_dir', None, 'Where the model and its training '
                      'records are written: a new or empty folder, or a '
                      'MidiMe run to replace with --overwrite.')
  flags.DEFINE_integer('num_epochs', None, 'Training epochs; default from the '
                       'config (100 for melodies and drums, 300 for trios).')
  flags.DEFINE_integer('latent_size', None, 'Size of MidiMe\'s latent space '
                       '(default 4).')
  flags.DEFINE_float('beta', None, 'Weight of the KL loss (default 1).')
  flags.DEFINE_string('hparams', '', 'Other hyperparameters, magenta\'s '
                      'syntax: "learning_rate=0.0005,encoder_layers=[512,64]".')
  script_util.define_track_flags()
  flags.DEFINE_integer('seed', None, 'Seed for repeatable training.',
                       lower_bound=0, upper_bound=2**31 - 1)
  flags.DEFINE_boolean('overwrite', False, 'Replace a MidiMe run already in '
                       '--run_dir.')
  flags.DEFINE_string('attributes_from', None, 'MIDI (as --input_midi) to '
                      'compute attribute vectors from, saved with the run; '
                      'midime_generate --attribute uses MusicVAE\'s prior '
                      'when a run has none.')
  from midime_magenta import encoding  # pylint: disable=g-import-not-at-top
  script_util.define_batch_size_flag(
      encoding.ENCODE_BATCH_SIZE, 'Chunks MusicVAE encodes per batch (the '
      'fastest on 2 CPU cores). Lower it if memory runs out.',
      old_name='encode_batch_size')


def check_flags():
  """Refusals that need no TensorFlow: flags, the input, the run folder."""
  for name in ('checkpoint_file', 'run_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  if bool(FLAGS.input_midi) == bool(FLAGS.input_encoded):
    raise errors.UsageError('Pass --input_midi (MIDI) or --input_encoded (a '
                            'midime_encode folder), one of them.')
  script_util.check_positive('num_epochs', FLAGS.num_epochs)
  # pylint: disable=g-import-not-at-top
  from midime_magenta import midi_io
  from midime_magenta import run_lib
  for spec in filter(None, [FLAGS.input_midi, FLAGS.attributes_from]):
    midi_io.find_input_files(spec)
  file_util.check_not_held(FLAGS.run_dir, run_lib.RunDirError)
  run_lib.check_run_dir(FLAGS.run_dir, FLAGS.overwrite)


def run():
  """Trains (check_flags ran first); raises the library's errors.

  Returns:
    130 when Ctrl-C ended training (the model so far is saved), else None.
  """
  started = time.perf_counter()
  # pylint: disable=g-import-not-at-top
  from midime_magenta import steering
  from midime_magenta import chunking_lib
  from midime_magenta import configs
  from midime_magenta import encoding
  from midime_magenta import personalizer as personalizer_lib
  from midime_magenta import run_lib
  from midime_magenta import music_vae_lib
  config, prefix = music_vae_lib.resolve_config(FLAGS.config,
                                                FLAGS.checkpoint_file)
  personalizer = personalizer_lib.Personalizer(
      configs.resolve_hparams(config, FLAGS.num_epochs, FLAGS.latent_size,
                              FLAGS.beta, FLAGS.hparams),
      batch_size=FLAGS.max_batch_size)
  personalizer.checkpoint_file = prefix  # Resolved above: not again.
  script_util.check_track_flags(personalizer.kind, config.name)
  if FLAGS.input_encoded:  # Checked before the MusicVAE loads.
    encoding.read_manifest(FLAGS.input_encoded)
  if FLAGS.attributes_from:  # Checked before minutes of training, not after.
    steering.check_enough_chunks(sum(c.num_chunks for c in personalizer.chunk(
        FLAGS.attributes_from, allow_empty=False)), FLAGS.attributes_from)
  with run_lib.claimed_run_dir(FLAGS.run_dir, FLAGS.overwrite):
    data = manifest = None
    if FLAGS.input_encoded:
      with startup_lib.span('reading'):
        data, manifest = encoding.load_training_data(
            FLAGS.input_encoded, personalizer.music_vae_identity)
      if not len(data.z):  # pylint: disable=g-explicit-length-test
        raise chunking_lib.NoChunksError(
            f'The encoding in {FLAGS.input_encoded} holds no chunks (see its '
            'skipped list); encode other MIDI.')
      logging.info('%d chunks from the encoding in %s.', len(data.z),
                   FLAGS.input_encoded)
    history = personalizer.train(
        FLAGS.input_midi, seed=FLAGS.seed, instrument=FLAGS.instrument,
        program=FLAGS.program,
        trio_tracks=script_util.trio_tracks_from_flags(),
        training_data=data, encoding=manifest, hop_bars=FLAGS.hop_bars)
    if FLAGS.attributes_from:
      with startup_lib.span('attribute vectors'):
        personalizer.compute_attribute_vectors(FLAGS.attributes_from)
    personalizer.save(FLAGS.run_dir, overwrite=True)
  if history['interrupted']:
    script_util.print_out(f'Interrupted: saved the model trained for '
                          f'{len(history["loss"])} epochs to {FLAGS.run_dir}.')
    return 130
  logging.info(
      'Trained MidiMe on %d chunks for %d epochs (final loss %.3f) in %.1f s '
      '(training %.1f s on %s). Model in %s.',
      len(personalizer.training_data.z), len(history['loss']),
      history['loss'][-1], time.perf_counter() - started, history['seconds'],
      history['device'], FLAGS.run_dir)
  return None


def console_entry_point():
  script_util.run_console_script(define_flags, run, check_first=check_flags)


if __name__ == '__main__':
  console_entry_point()
