"""The one base class of every error that is the user's to fix.

Each module keeps its own error classes, as note-seq does, all derived from
`MidiMeError`, which the scripts turn into one line and a non-zero exit.
"""


class MidiMeError(Exception):
  """Something the user can fix: the message says what was wrong and what to do."""


class UsageError(MidiMeError, ValueError):
  """A flag or argument value that cannot be used (also a ValueError, what
  Python code that misuses an API expects)."""
