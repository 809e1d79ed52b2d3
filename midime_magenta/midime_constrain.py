r"""Trains a rule constraint for a MidiMe run: outputs that obey your rules.

A latent constraint (Engel, Hoffman & Roberts, 2018) learned from the rules
alone, saved in the run; midime_generate applies it (--noconstrain leaves it
out); constraint.png in the run shows samples before and after. Rules, all
obeyed at once: key:C (or G, Bb, F#m ...), density:LO-HI (note onsets per
bar), pitch:LO-HI (MIDI pitches).

Example usage:
  midime_constrain \
    --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --config=cat-mel_2bar_small \
    --run_dir=/path/to/my_midime \
    --rule=key:C --rule=density:2-4
  midime_generate ... --run_dir=/path/to/my_midime --mode=sample
"""

import os

from absl import flags
from absl import logging

from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_common_flags()
  flags.DEFINE_string('run_dir', None, 'The folder midime_train wrote; the '
                      'constraint is saved there (replacing one it had).')
  flags.DEFINE_multi_string('rule', [], 'A rule: key:C, density:LO-HI or '
                            'pitch:LO-HI; repeat for several.')
  flags.DEFINE_integer('iterations', 100, 'Adam steps per round for the '
                       'critic and the actor (3 rounds).', lower_bound=1,
                       upper_bound=100_000)
  flags.DEFINE_integer('seed', 0, 'Seed for the draws and the networks.',
                       lower_bound=0, upper_bound=2**31 - 1)


def check_flags():
  """The flag checks, before TensorFlow loads."""
  for name in ('checkpoint_file', 'run_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  # pylint: disable=g-import-not-at-top
  from midime_magenta import file_util
  from midime_magenta import steering
  from midime_magenta import run_lib
  steering.parse_rules(FLAGS.rule)
  run_lib.read_model_info(FLAGS.run_dir)
  file_util.check_not_held(FLAGS.run_dir, run_lib.RunDirError)


def run():
  # pylint: disable=g-import-not-at-top
  from midime_magenta import steering
  from midime_magenta import personalizer as personalizer_lib
  from midime_magenta import plots_lib
  from midime_magenta import run_lib
  # Held from load to save, so a retrain cannot come in between.
  with run_lib.claimed_run_dir(FLAGS.run_dir, overwrite=True):
    personalizer = personalizer_lib.Personalizer.load(
        FLAGS.run_dir, FLAGS.checkpoint_file, config=FLAGS.config)
    if personalizer.constraint is not None:
      logging.info('Replacing the run\'s constraint (%s).',
                   ', '.join(personalizer.constraint.specs))
    report = personalizer.constrain(FLAGS.rule, FLAGS.iterations, FLAGS.seed)
    run_lib.add_to_run(FLAGS.run_dir, 'constraint',
                       *steering.constraint_to_saved(personalizer.constraint))
    script_util.print_out(steering.format_report(report))
    before = personalizer.sample(5, seed=FLAGS.seed, constrain=False,
                                 allow_copies=True)
    after = personalizer.sample(5, seed=FLAGS.seed, allow_copies=True)
    plot = plots_lib.plot_comparison_sheet(
        [('MidiMe samples', before), ('constrained', after)],
        os.path.join(FLAGS.run_dir, run_lib.CONSTRAINT_PLOT_FILE),
        title=f'Rule constraint {", ".join(personalizer.constraint.specs)}: '
              'the same draws before and after')
  logging.info('Saved the constraint in %s (before and after: %s).',
               FLAGS.run_dir, plot)


def console_entry_point():
  script_util.run_console_script(define_flags, run, check_first=check_flags)


if __name__ == '__main__':
  console_entry_point()
