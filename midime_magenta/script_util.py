"""What every console script shares: flags, one-line errors, quiet start-up.

A refusal is one line on stderr, `<script>: error: <sentence>`: a
`errors.MidiMeError` exits 1, a bad flag 2, Ctrl-C 130. Any other exception
is a bug and keeps its traceback; `--debug` shows ours too. Scripts define
their flags when run (`define_flags`), not on import, so they import together.
"""

import atexit
import contextlib
import gc
import os
import sys
import threading

from absl import app
from absl import flags
from absl import logging

from midime_magenta import errors
from midime_magenta import startup_lib

# kind: (its track flags, what they pick, the hint for a model of that kind).
_TRACK_FLAGS = {
    'melody': (('instrument', 'program'), 'the melody of a melody model',
               ' (use --instrument or --program)'),
    'trio': (('melody_track', 'bass_track', 'drum_track'),
             'a track of a trio',
             ' (use --melody_track, --bass_track and --drum_track)'),
}


def fail(message, code=1):
  """Prints one error line and exits: the only way our scripts refuse."""
  prog = os.path.basename(sys.argv[0]) if sys.argv else 'midime'
  # One line whatever the message holds (a file name with a newline cannot
  # forge a second line), and any byte of a file name printable.
  message = ' '.join(str(message).split())
  message = message.encode('utf-8', 'backslashreplace').decode('utf-8')
  sys.stderr.write(f'{prog}: error: {message}\n')
  sys.stderr.flush()
  sys.exit(code)


def print_out(text):
  """Prints a result; a stdout that cannot take it costs a warning only."""
  try:
    print(text, flush=True)
  except OSError as e:
    _discard(1)
    logging.warning('Could not write to stdout (%s); what was done is saved.',
                    e.strerror or type(e).__name__)


def _discard(fd):
  """Points file descriptor `fd` at /dev/null (its reader left, or it closed)."""
  null = os.open(os.devnull, os.O_RDWR)
  if null != fd:
    os.dup2(null, fd)
    os.close(null)


def _open_closed_std_streams():
  """Gives a stdin, stdout or stderr closed at start (`>&-`) /dev/null, so no
  file we open takes its number."""
  for fd, name in enumerate(('stdin', 'stdout', 'stderr')):
    try:
      os.fstat(fd)
    except OSError:
      _discard(fd)
      if getattr(sys, name) is None:
        setattr(sys, name, open(fd, 'r' if fd == 0 else 'w', closefd=False,
                                encoding='utf-8', errors='backslashreplace'))
  handler = logging.get_absl_handler().python_handler
  if handler.stream is None:  # absl's handler was made with sys.stderr None.
    handler.stream = sys.stderr


def parse_flags_or_exit(argv):
  """`app.run` flags parser that reports a bad flag in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f'{e} (see --helpshort).', code=2)
  except SystemExit as e:
    # absl exits 1 after printing --help; asking for help is no failure.
    if e.code == 1 and _asked_for_help(argv):
      sys.exit(0)
    raise


def _asked_for_help(argv):
  return bool(set(argv[1:]) & {'--help', '-h', '-?', '--helpshort',
                               '--helpfull', '--helpxml'})


def define_common_flags():
  """--config, --checkpoint_file, --log and --debug, as every script reads them."""
  flags.DEFINE_string('config', None, 'MidiMe config: a MusicVAE config name '
                      '(e.g. cat-mel_2bar_small) or a .json config file; by '
                      'default the one the checkpoint carries or fits.')
  flags.DEFINE_string('checkpoint_file', None, 'MusicVAE checkpoint: a prefix '
                      '(model.ckpt-N), a directory holding one, a .tar, a '
                      'Magenta.js folder, or a name, URL or gs:// path from '
                      'midime_checkpoints.')
  define_log_flags()


def define_track_flags():
  """--instrument, --program, --{melody,bass,drum}_track and --hop_bars."""
  flags.DEFINE_integer('instrument', None, 'Melody configs: use this '
                       'instrument (track) number as the melody.')
  flags.DEFINE_integer('program', None, 'Melody configs: use the first track '
                       'with this MIDI program as the melody.')
  for part, what in (('melody', 'melody'), ('bass', 'bass'),
                     ('drum', 'drums (its notes are played as drums)')):
    flags.DEFINE_integer(f'{part}_track', None, f'Trio configs: use this '
                         f'instrument (track) number as the {what}; by '
                         'default it is picked from the song (see '
                         'docs/personalizing.md).',
                         lower_bound=0)
  flags.DEFINE_integer('hop_bars', None, 'Cut overlapping windows that start '
                       'this many bars apart; by default the MidiMe demo\'s '
                       'windows, which do not overlap.',
                       lower_bound=1, upper_bound=16)


def check_track_flags(kind, config_name):
  """Refuses track flags a config of `kind` ('melody', 'trio'...) would ignore."""
  for owner, (names, picks, _) in _TRACK_FLAGS.items():
    given = [n for n in names if flags.FLAGS[n].value is not None]
    if given and kind != owner:
      hint = _TRACK_FLAGS.get(kind, ((), '', ''))[2]
      raise errors.UsageError(f'--{given[0]} picks {picks}, and {config_name} '
                              f'is a {kind} model{hint}.')


def trio_tracks_from_flags():
  """{'melody'|'bass'|'drums': instrument} of the track flags given."""
  return {part: flags.FLAGS[f'{flag}_track'].value
          for part, flag in (('melody', 'melody'), ('bass', 'bass'),
                             ('drums', 'drum'))
          if flags.FLAGS[f'{flag}_track'].value is not None}


def define_batch_size_flag(default, help_text, old_name=None):
  """--max_batch_size, as music_vae_generate names it (`old_name`: an alias)."""
  flags.DEFINE_integer('max_batch_size', default, help_text, lower_bound=1,
                       upper_bound=65536)
  if old_name:
    flags.DEFINE_alias(old_name, 'max_batch_size')


def define_log_flags():
  """--log and --debug alone, for scripts that take no checkpoint."""
  flags.DEFINE_enum('log', 'INFO',
                    ('DEBUG', 'INFO', 'WARN', 'WARNING', 'ERROR', 'FATAL'),
                    'Logging threshold.', case_sensitive=False)
  flags.DEFINE_boolean('debug', False, 'Show the traceback of an error too.')


def run_console_script(define_flags, run, needs_tensorflow=True,
                       check_first=None):
  """The body of every script's `console_entry_point`.

  Defines the flags (now, so scripts import together), parses them with
  one-line errors, runs `check_first()` (the script's only flag checks, made
  before TensorFlow loads), imports TensorFlow quietly if needed and exits
  with the code of `run()`, or of `run(checked)` when `check_first` returned
  something.
  """
  _open_closed_std_streams()

  def main(unused_argv):
    logging.set_verbosity(flags.FLAGS.log.upper())
    checked = check_first() if check_first else None
    if needs_tensorflow:
      with startup_lib.span('imports'), _modules_kept_out_of_collection(run):
        startup_lib.import_quietly()
    try:
      code = run() if checked is None else run(checked)
    finally:
      startup_lib.write_spans_if_asked()
    if isinstance(code, int):
      sys.exit(code)

  try:
    try:
      define_flags()
      _show_our_flags_in_help(run)
      app.run(main, flags_parser=parse_flags_or_exit)
    except BrokenPipeError:
      # stdout's reader left (`--help | head -n 1`), as Python's SIGPIPE docs.
      _discard(1)
      sys.exit(0 if _asked_for_help(sys.argv) else 1)
    except KeyboardInterrupt:
      fail('Interrupted; nothing was left half-written.', code=130)
    except errors.MidiMeError as e:
      if os.environ.get('MIDIME_DEBUG') or (
          'debug' in flags.FLAGS and flags.FLAGS.is_parsed() and
          flags.FLAGS.debug):
        raise
      fail(e.cli or e)
  except SystemExit as e:  # app.run always exits.
    if _owns_the_process(run):
      _exit_now(e.code)
    raise


@contextlib.contextmanager
def _modules_kept_out_of_collection(run):
  """Imports with the collector off, then `gc.freeze`s what they made (saves
  1.0 s of a cold `midime_train`); only when the script owns the process."""
  if not _owns_the_process(run):
    yield
    return
  gc.disable()
  try:
    yield
  finally:
    gc.freeze()
    gc.enable()


def _owns_the_process(run):
  """True when the script is the process's program, not a call from a notebook,
  a test or another program."""
  main_file = getattr(sys.modules.get('__main__'), '__file__', None) or ''
  script = run.__module__.rsplit('.', 1)[-1]
  return (os.path.splitext(os.path.basename(main_file))[0] == script and
          all(t.daemon or t is threading.main_thread()
              for t in threading.enumerate()))


def _exit_now(code):
  """`sys.exit(code)` without Python's finalization (1.3-1.6 s of tearing down
  TensorFlow; every file is already written); exit handlers still run."""
  if code is None:
    code = 0
  elif not isinstance(code, int):
    sys.stderr.write(f'{code}\n')
    code = 1
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  for stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(OSError, ValueError, AttributeError):
      stream.flush()
  os._exit(code)  # pylint: disable=protected-access


def _show_our_flags_in_help(run):
  """Makes --help show the script's examples and flags, not pip's wrapper's."""
  main = sys.modules.get('__main__')
  if main is not None and not main.__doc__:
    main.__doc__ = sys.modules[run.__module__].__doc__
  values = flags.FLAGS
  for module, defined in values.flags_by_module_dict().items():
    if module.startswith('midime_magenta.'):
      for flag in defined:
        values.register_key_flag_for_module(sys.argv[0], flag)


def require_flag(name, value):
  if value is None or value == '':
    raise errors.UsageError(f'--{name} is required.')


def check_positive(name, value):
  """Refuses a count flag below 1 (None, its default, passes)."""
  if value is not None and value < 1:
    raise errors.UsageError(f'--{name} must be at least 1, got {value}.')
