r"""Lists the official MusicVAE checkpoints, and which are cached here.

Any name listed may be passed as --checkpoint_file to midime_train and
midime_generate; it is fetched once into the cache and used offline after.

Example usage:
  midime_checkpoints
  midime_checkpoints --fetch=mel_2bar_small
"""

from absl import flags

from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_log_flags()
  flags.DEFINE_string('fetch', None, 'Also fetch this checkpoint (name or '
                      'URL) into the cache now.')


def run():
  from midime_magenta import checkpoints  # pylint: disable=g-import-not-at-top
  if FLAGS.fetch:  # The door imports TensorFlow first: a fetch converts.
    prefix = checkpoints.resolve_checkpoint(FLAGS.fetch).prefix
    script_util.print_out(f'{FLAGS.fetch}: ready at {prefix}')
  lines = [f'Cache: {checkpoints.cache_root()}',
           f'{"name":28} {"kind":5} {"config":24} cached  note']
  for entry in checkpoints.known_checkpoints().values():
    config = entry.config or ('from its config.json' if entry.kind == 'tfjs'
                              else '-')
    cached = 'yes' if checkpoints.is_cached(entry) else 'no'
    lines.append(f'{entry.name:28} {entry.kind:5} {config:24} {cached:7} '
                 f'{entry.note}')
  lines.append('Not supported (Magenta.js catalogue):')
  lines += [f'  {name:32} {reason}.'
            for name, reason in checkpoints.REFUSED_CHECKPOINTS.items()]
  script_util.print_out('\n'.join(lines))


def console_entry_point():
  # The listing imports no TensorFlow: it answers in a fraction of a second.
  script_util.run_console_script(define_flags, run, needs_tensorflow=False)


if __name__ == '__main__':
  console_entry_point()
