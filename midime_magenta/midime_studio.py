r"""MidiMe Studio: the MidiMe demo page on your own machine, in a browser.

Upload MIDI, hear it, train MidiMe with a live loss curve, compare
reconstructions before and after, hear MidiMe's samples beside MusicVAE's,
move the sliders, steer, save and load runs by name, download MIDI and WAV.
Serves on 127.0.0.1 only, unless --host asks for another address; then a
login is needed: --auth, --auth_file or $MIDIME_STUDIO_AUTH (user:password),
or else a password made at start and printed once. Needs the studio extra,
installed from a checkout or a wheel (the package is not on PyPI):
pip install '/path/to/midime_magenta[studio]'.

Example usage:
  midime_studio                                  # mel_2bar_small, trio_4bar
  midime_studio --port=7860 --runs_dir=~/midime_runs
  midime_studio --checkpoint_file=/path/to/mel_2bar_small_tfjs,trio_4bar
  midime_studio --host=0.0.0.0 --auth_file=~/.midime_studio_logins
"""

import os
import signal
import time

from absl import flags

from midime_magenta import errors
from midime_magenta import script_util

FLAGS = flags.FLAGS


def define_flags():
  script_util.define_log_flags()
  flags.DEFINE_list('checkpoint_file', ['mel_2bar_small', 'trio_4bar'],
                    'MusicVAE checkpoints the page offers (names, folders or '
                    'URLs, as midime_train takes them), comma-separated.')
  flags.DEFINE_string('host', '127.0.0.1', 'The address to serve on; any '
                      'other than this machine\'s own (e.g. 0.0.0.0) needs a '
                      'login.')
  flags.DEFINE_integer('port', 7860, 'The port to serve on (0: any free one).',
                       lower_bound=0, upper_bound=65535)
  flags.DEFINE_string('output_dir', None, 'Where the page\'s files go: '
                      'uploads, and the MIDI, WAV and pictures it makes (in a '
                      'new folder of this server\'s); Gradio\'s temporary '
                      'folder by default.')
  flags.DEFINE_string('runs_dir', None, 'The runs library, where the page '
                      'saves and loads runs by name; by default '
                      '$XDG_DATA_HOME/midime_magenta/runs (~/.local/share/...).')
  flags.DEFINE_string('auth', None, 'user:password to log in with; also '
                      '$MIDIME_STUDIO_AUTH.')
  flags.DEFINE_string('auth_file', None, 'A file of user:password lines to '
                      'log in with.')
  flags.DEFINE_integer('max_tabs', 16, 'Tabs served at once; a new one takes '
                       'the place of the one idle the longest.', lower_bound=1,
                       upper_bound=1000)


def _logins():
  """[(user, password)] from --auth, --auth_file or $MIDIME_STUDIO_AUTH."""
  if FLAGS.auth_file:
    try:
      with open(os.path.expanduser(FLAGS.auth_file), encoding='utf-8') as f:
        lines, where = f.read(1 << 16).splitlines(), f'--auth_file={FLAGS.auth_file}'
    except (OSError, UnicodeDecodeError) as e:
      raise errors.UsageError(f'--auth_file={FLAGS.auth_file} cannot be read '
                              f'({getattr(e, "strerror", None) or e}).') from None
  else:
    value = FLAGS.auth or os.environ.get('MIDIME_STUDIO_AUTH')
    where = '--auth' if FLAGS.auth else '$MIDIME_STUDIO_AUTH'
    lines = [value] if value else []
  logins = [tuple(l.strip().split(':', 1)) for l in lines if l.strip()]
  if any(len(l) != 2 or not all(l) for l in logins) or (
      FLAGS.auth_file and not logins):
    raise errors.UsageError(f'{where} needs user:password (one a line).')
  return logins or None


def run():
  from midime_magenta import studio  # pylint: disable=g-import-not-at-top
  studio.check_installed()
  logins = _logins()
  studio.check_address(FLAGS.host, FLAGS.port)
  runs_dir = os.path.expanduser(FLAGS.runs_dir or studio.default_runs_dir())
  studio.check_folder(runs_dir, '--runs_dir')
  if FLAGS.output_dir:
    studio.check_folder(FLAGS.output_dir, '--output_dir')
  # SIGTERM stops the server as Ctrl-C does, whatever a tab is doing.
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  studio.launch(FLAGS.checkpoint_file, FLAGS.host, FLAGS.port,
                FLAGS.output_dir, runs_dir, logins, FLAGS.max_tabs)
  while True:
    time.sleep(3600)


def console_entry_point():
  script_util.run_console_script(define_flags, run)


if __name__ == '__main__':
  console_entry_point()
