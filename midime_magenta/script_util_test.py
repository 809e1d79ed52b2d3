"""Tests for script_util's exit: fast when the script is the process."""

import os
import subprocess
import sys

from midime_magenta import script_util
from midime_testing import testdata_lib

_PROGRAM = """
import atexit, sys


class Finalized:
  def __del__(self):
    print('finalized', flush=True)


keep = Finalized()  # Its __del__ runs only in Python's finalization.
atexit.register(lambda: print('exit handler ran', flush=True))
from midime_magenta import midime_checkpoints
midime_checkpoints.console_entry_point()
"""


def _run_as_program(tmp_path, *args):
  # Named as the script, as pip's wrapper is: the script owns the process.
  program = tmp_path / 'midime_checkpoints.py'
  program.write_text(_PROGRAM, encoding='utf-8')
  return subprocess.run([sys.executable, str(program), *args],
                        capture_output=True, text=True, timeout=300,
                        check=False)


def test_a_script_that_is_the_program_skips_finalization_only(tmp_path):
  done = _run_as_program(tmp_path)
  assert done.returncode == 0, done.stderr
  assert 'mel_2bar_small' in done.stdout  # The listing, flushed.
  assert 'exit handler ran' in done.stdout
  assert 'finalized' not in done.stdout


def test_its_exit_codes_and_one_line_errors_are_kept(tmp_path):
  done = _run_as_program(tmp_path, '--no_such_flag')
  assert done.returncode == 2 and 'finalized' not in done.stdout
  lines = [line for line in done.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, done.stderr
  assert lines[0].startswith('midime_checkpoints.py: error: Unknown command '
                             "line flag 'no_such_flag'")
  assert 'exit handler ran' in done.stdout


def test_called_from_other_code_it_leaves_the_process_alone():
  """A notebook, a test or a program calling console_entry_point keeps its
  process: the script raises SystemExit as usual."""
  from midime_magenta import midime_checkpoints  # pylint: disable=g-import-not-at-top
  assert not script_util._owns_the_process(  # pylint: disable=protected-access
      midime_checkpoints.run)
  assert os.path.basename(sys.argv[0]) != 'midime_checkpoints'


def test_a_script_that_is_the_program_freezes_what_its_imports_made(
    tmp_path):
  program = tmp_path / 'midime_train.py'
  program.write_text(
      'import atexit, gc\n'
      'atexit.register(lambda: print("frozen", gc.get_freeze_count(),'
      ' flush=True))\n'
      'from midime_magenta import midime_train\n'
      'midime_train.console_entry_point()\n', encoding='utf-8')
  # Flags that pass the checks made before TensorFlow loads; the checkpoint
  # is refused after.
  done = subprocess.run(
      [sys.executable, str(program), '--checkpoint_file=no_such_checkpoint',
       '--input_midi=' + testdata_lib.testdata_path('reel_4-4.mid'),
       f'--run_dir={tmp_path / "run"}'], capture_output=True, text=True,
      timeout=300, check=False)
  assert done.returncode == 1 and 'no_such_checkpoint' in done.stderr
  frozen = int(done.stdout.split('frozen')[1].split()[0])
  assert frozen > 100_000  # TensorFlow's and magenta's objects.
