r"""Measures how much MidiMe samples resemble your input, next to MusicVAE's.

Prints a table, and writes evaluation.json and comparison.png to --output_dir
(default: <run_dir>/evaluation).

Example usage:
  midime_evaluate \
    --config=cat-mel_2bar_small \
    --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --run_dir=/path/to/my_midime \
    --input_midi=my_tune.mid
"""

import os

from absl import flags
from absl import logging

from midime_magenta import errors
from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_common_flags()
  flags.DEFINE_string('run_dir', None, 'The folder midime_train wrote.')
  flags.DEFINE_string('input_midi', None, 'The MIDI to compare against '
                      '(usually what the model was trained on).')
  flags.DEFINE_integer('num_samples', None, 'Samples of each kind; default: '
                       'as many as the input has chunks.', upper_bound=100_000)
  flags.DEFINE_float('temperature', 0.5, 'MusicVAE decoding temperature.')
  flags.DEFINE_float('variation', 1.0, 'The scale of MidiMe\'s latents for '
                     'its samples (below 1: blends near the centre, fewer '
                     'copies; above 1: nearer particular input chunks, more '
                     'copies).')
  flags.DEFINE_integer('seed', 0, 'Seed for the latent draws.', lower_bound=0,
                       upper_bound=2**63 - 1)
  flags.DEFINE_string('output_dir', None, 'Where the JSON and the sheet go.')


def check_flags():
  """The flag checks, before TensorFlow loads."""
  for name in ('checkpoint_file', 'run_dir', 'input_midi'):
    script_util.require_flag(name, FLAGS[name].value)
  script_util.check_positive('num_samples', FLAGS.num_samples)
  if not 0 < FLAGS.variation <= 10:
    raise errors.UsageError(
        f'--variation must be in (0, 10], got {FLAGS.variation}.')
  if not FLAGS.temperature > 0:
    raise errors.UsageError(
        f'--temperature must be a positive number, got {FLAGS.temperature}.')
  # pylint: disable=g-import-not-at-top
  from midime_magenta import midi_io
  from midime_magenta import run_lib
  run_lib.read_model_info(FLAGS.run_dir)
  midi_io.find_input_files(FLAGS.input_midi)


def run():
  # pylint: disable=g-import-not-at-top
  from midime_magenta import evaluate_lib
  from midime_magenta import personalizer as personalizer_lib
  personalizer = personalizer_lib.Personalizer.load(
      FLAGS.run_dir, FLAGS.checkpoint_file, config=FLAGS.config)
  report = evaluate_lib.evaluate(personalizer, FLAGS.input_midi,
                                 FLAGS.num_samples, FLAGS.temperature,
                                 FLAGS.seed, FLAGS.variation)
  script_util.print_out(evaluate_lib.format_table(report))
  paths = evaluate_lib.write_report(
      report, FLAGS.output_dir or os.path.join(FLAGS.run_dir, 'evaluation'))
  logging.info('Wrote %s and %s.', *paths)


def console_entry_point():
  script_util.run_console_script(define_flags, run, check_first=check_flags)


if __name__ == '__main__':
  console_entry_point()
