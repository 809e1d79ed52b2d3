"""`MidiMeError`, the base of errors the user can fix, and argument checks."""

import contextlib
import functools
import inspect
import math
import numbers
import os


class MidiMeError(Exception):
  """What was wrong and what to do in the API's words (`cli`: naming flags)."""

  def __init__(self, message='', cli=None):
    super().__init__(message)
    self.cli = cli


class UsageError(MidiMeError, ValueError):
  """A flag or argument value that cannot be used (also a ValueError)."""


def check_int(name, value, low, high):
  """`value` as an int in [low, high], else a UsageError naming `name`."""
  if (isinstance(value, numbers.Integral) and not isinstance(value, bool) and
      low <= value <= high):
    return int(value)
  raise UsageError(f'{name} must be a whole number from {low} to {high}, '
                   f'got {value!r}.')


def check_real(name, value, low, high, low_open=False):
  """`value` as a float in [low, high] (or (low, high]), else a UsageError."""
  with contextlib.suppress(OverflowError):  # An int beyond any float.
    if (isinstance(value, numbers.Real) and not isinstance(value, bool) and
        math.isfinite(value) and (low < value if low_open else low <= value)
        and value <= high):
      return float(value)
  raise UsageError(f'{name} must be a number in {"(" if low_open else "["}'
                   f'{low:g}, {high:g}], got {value!r}.')


def check_path(name, value, what='a path'):
  """`value` as a str if it is a path (a non-empty str or os.PathLike)."""
  if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
    raise UsageError(f'{name} must be {what}, got {value!r}.')
  return os.fspath(value)


def as_list(name, values):
  """`values` as a list; a UsageError naming `name` if it is not iterable."""
  try:
    return list(values)
  except TypeError:
    raise UsageError(f'{name} must be a list, got {values!r}.') from None


def checked_arguments(checks):
  """A class decorator: public methods check arguments by name first
  (`checks[name](name, value, instance)` returns the value to use)."""
  def decorate(cls):
    for name, member in list(vars(cls).items()):
      function = getattr(member, '__func__', member)
      if inspect.isfunction(function) and (
          not name.startswith('_') or name == '__init__'):
        wrapped = _checking(function, checks)
        setattr(cls, name, wrapped if function is member else
                type(member)(wrapped))
    return cls
  return decorate


def _checking(function, checks):
  signature = inspect.signature(function)

  @functools.wraps(function)
  def call(*args, **kwargs):
    bound = signature.bind(*args, **kwargs)
    for name, value in bound.arguments.items():
      if name in checks:
        bound.arguments[name] = checks[name](name, value, args[0])
    return function(*bound.args, **bound.kwargs)
  return call


def whole(low, high, optional=True):
  """A check: a whole number in [low, high] (or None, when `optional`)."""
  return lambda name, value, _: value if optional and value is None else (
      check_int(name, value, low, high))


def of_kind(kinds, what):
  """A check: None, or an instance of `kinds` (a path as a str)."""
  def check(name, value, _):
    if value is not None and not isinstance(value, kinds):
      raise UsageError(f'{name} must be {what}, got {value!r}.')
    return os.fspath(value) if isinstance(value, os.PathLike) else value
  return check
