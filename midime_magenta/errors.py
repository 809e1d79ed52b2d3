"""The one base class of every error that is the user's to fix.

Each module keeps its own error classes, as note-seq does, all derived from
`MidiMeError`, which the scripts turn into one line and a non-zero exit.
"""

import math
import numbers


class MidiMeError(Exception):
  """Something the user can fix: the message says what was wrong and what to do."""


class UsageError(MidiMeError, ValueError):
  """A flag or argument value that cannot be used (also a ValueError, what
  Python code that misuses an API expects)."""


def check_int(name, value, low, high):
  """`value` as an int if it is a whole number in [low, high]; else a
  UsageError naming argument `name` (the API's checks of counts and seeds)."""
  if (isinstance(value, numbers.Integral) and not isinstance(value, bool) and
      low <= value <= high):
    return int(value)
  raise UsageError(f'{name} must be a whole number from {low} to {high}, '
                   f'got {value!r}.')


def check_real(name, value, low, high, low_open=False):
  """`value` as a float if it is a finite number in [low, high] (`low_open`:
  (low, high]); else a UsageError naming argument `name`."""
  if (isinstance(value, numbers.Real) and not isinstance(value, bool) and
      math.isfinite(value) and (low < value if low_open else low <= value)
      and value <= high):
    return float(value)
  raise UsageError(f'{name} must be a number in {"(" if low_open else "["}'
                   f'{low:g}, {high:g}], got {value!r}.')
