r"""MidiMe Studio: the MidiMe demo page on your own machine, in a browser.

Upload MIDI, hear it, train MidiMe with a live loss curve, compare
reconstructions before and after, hear MidiMe's samples beside MusicVAE's,
move the sliders, steer, save and load runs, download MIDI and WAV. Serves on
127.0.0.1 only, unless --host asks for another address. Needs the studio
extra: pip install 'midime-magenta[studio]'.

Example usage:
  midime_studio                                  # mel_2bar_small, trio_4bar
  midime_studio --port=7860
  midime_studio --checkpoint_file=/path/to/mel_2bar_small_tfjs,trio_4bar
"""

from absl import flags
from absl import logging

from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_log_flags()
  flags.DEFINE_list('checkpoint_file', ['mel_2bar_small', 'trio_4bar'],
                    'MusicVAE checkpoints the page offers (names, folders or '
                    'URLs, as midime_train takes them), comma-separated.')
  flags.DEFINE_string('host', '127.0.0.1', 'The address to serve on; '
                      '0.0.0.0 lets other machines in.')
  flags.DEFINE_integer('port', 7860, 'The port to serve on.', lower_bound=1,
                       upper_bound=65535)
  flags.DEFINE_string('output_dir', None, 'Where the page\'s MIDI, WAV and '
                      'pictures are written; a temporary folder by default.')


def run():
  from midime_magenta import studio  # pylint: disable=g-import-not-at-top
  studio.check_installed()
  page = studio.launch(FLAGS.checkpoint_file, FLAGS.host, FLAGS.port,
                       FLAGS.output_dir)
  logging.info('MidiMe Studio: open %s (Ctrl-C stops it).', page.local_url)
  script_util.print_out(f'MidiMe Studio: {page.local_url}')
  page.block_thread()


def console_entry_point():
  script_util.run_console_script(define_flags, run)


if __name__ == '__main__':
  console_entry_point()
