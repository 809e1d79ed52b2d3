"""The one base class of every error that is the user's to fix.

Each module keeps its own error classes (`midi_io.InputError`,
`checkpoint_lib.CheckpointError`, ...), as note-seq does, but all derive from
`MidiMeError`. The scripts turn a `MidiMeError` into one line on stderr and a
non-zero exit; any other exception is a bug of ours or of a library and keeps
its traceback. `--debug` (or MIDIME_DEBUG=1) shows the traceback of ours too.
"""


class MidiMeError(Exception):
  """Something the user can fix: the message says what was wrong and what to do."""


class UsageError(MidiMeError, ValueError):
  """A flag or argument value that cannot be used (also a ValueError, what
  Python code that misuses an API expects)."""
