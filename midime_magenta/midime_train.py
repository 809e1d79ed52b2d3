r"""Trains MidiMe on your own MIDI, on top of a frozen, pretrained MusicVAE.

Cuts every input into chunks of the config's length (all valid windows),
encodes them with the MusicVAE, trains a small VAE on their latents and saves
it, with TensorBoard events, a loss plot and a summary, into --run_dir.

Example usage:
  midime_train \
    --config=cat-mel_2bar_small \
    --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --input_midi=my_tune.mid \
    --run_dir=/path/to/my_midime

  # Folders (recursive), globs and TFRecords, comma-separated; more epochs:
  midime_train --config=cat-mel_2bar_small --checkpoint_file=cat-mel_2bar_small.tar \
    --input_midi='tunes/,more/*.mid' --run_dir=run --num_epochs=300

  # Pick the melody track yourself, and tune hyperparameters:
  midime_train ... --program=73 --hparams='latent_size=8,learning_rate=0.0005'
"""

from absl import flags
from absl import logging

from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  """Defines the flags; called only when run as a script (see STYLE)."""
  script_util.define_common_flags()
  flags.DEFINE_string('input_midi', None, 'MIDI files, directories, globs or '
                      'TFRecords of NoteSequences, comma-separated.')
  flags.DEFINE_string('run_dir', None, 'Where the model and its training '
                      'records are written.')
  flags.DEFINE_integer('num_epochs', None, 'Training epochs; default from the '
                       'config (100 for melodies and drums, 300 for trios).')
  flags.DEFINE_integer('latent_size', None, 'Size of MidiMe\'s latent space '
                       '(default 4).')
  flags.DEFINE_float('beta', None, 'Weight of the KL loss (default 1).')
  flags.DEFINE_string('hparams', '', 'Other hyperparameters, '
                      '"name=value,...", e.g. "learning_rate=0.0005".')
  flags.DEFINE_integer('instrument', None, 'Melody configs: use this '
                       'instrument (track) number as the melody.')
  flags.DEFINE_integer('program', None, 'Melody configs: use the first track '
                       'with this MIDI program as the melody.')
  flags.DEFINE_integer('seed', None, 'Seed for repeatable training.')
  flags.DEFINE_boolean('overwrite', False, 'Replace a model already in '
                       '--run_dir.')
  flags.DEFINE_integer('max_batch_size', 256, 'Batch size for encoding chunks '
                       '(256 was fastest on 2 CPU cores; see bench/).')


def run():
  """Checks the flags and trains; raises the library's errors.

  Returns:
    130 when Ctrl-C ended training (the model so far is saved), else None.
  """
  for name in ('config', 'checkpoint_file', 'input_midi', 'run_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  if FLAGS.num_epochs is not None and FLAGS.num_epochs < 1:
    raise script_util.UsageError(
        f'--num_epochs must be at least 1, got {FLAGS.num_epochs}.')
  if FLAGS.max_batch_size < 1:
    raise script_util.UsageError('--max_batch_size must be at least 1.')
  from midime_magenta import train_lib  # pylint: disable=g-import-not-at-top
  try:
    summary = train_lib.train_from_midi(
        FLAGS.config, FLAGS.checkpoint_file, FLAGS.input_midi, FLAGS.run_dir,
        num_epochs=FLAGS.num_epochs, latent_size=FLAGS.latent_size,
        beta=FLAGS.beta, hparams=FLAGS.hparams, instrument=FLAGS.instrument,
        program=FLAGS.program, seed=FLAGS.seed, overwrite=FLAGS.overwrite,
        encode_batch_size=FLAGS.max_batch_size)
  except KeyboardInterrupt:
    script_util.fail('Interrupted before the first epoch finished; nothing '
                     'was saved.', code=130)
  if summary['interrupted']:
    print(f'Interrupted: saved the model trained for {summary["epochs"]} '
          f'epochs to {FLAGS.run_dir}.', flush=True)
    return 130
  seconds = summary['seconds']
  logging.info(
      'Trained MidiMe on %d chunks for %d epochs (final loss %.3f) in %.1f s '
      '(encoding %.1f s, training %.1f s). Model in %s.',
      summary['num_chunks'], summary['epochs'], summary['final_loss']['total'],
      seconds['total'], seconds['encoding'], seconds['training'],
      FLAGS.run_dir)
  return None


def console_entry_point():
  script_util.run_console_script(define_flags, run)


if __name__ == '__main__':
  console_entry_point()
