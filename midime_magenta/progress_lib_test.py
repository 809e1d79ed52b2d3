"""Tests for progress_lib's bars off a terminal."""

import logging

from midime_magenta import progress_lib


def test_two_bars_at_once_log_their_lines_without_escapes(caplog):
  """Off a terminal each bar's lines go to the log; a second bar open at the
  same time (a download while training) makes tqdm move up by escapes."""
  caplog.set_level(logging.INFO)
  first = progress_lib.progress_bar(10, 'Training MidiMe', 'epochs')
  second = progress_lib.progress_bar(10, 'Downloading', 'B')
  for _ in range(10):
    first.update(1)
    second.update(1)
  first.close()
  second.close()
  lines = [r.getMessage() for r in caplog.records]
  assert 'Training MidiMe: 10 of 10 epochs (00:00)' in lines, lines
  assert [l for l in lines if l.startswith('Downloading: ')], lines
  assert not [l for l in lines if '\x1b' in l], lines
