"""Tests for file_util's names."""

import datetime

from midime_magenta import file_util


def test_musician_names_file_by_tune_model_what_and_date(tmp_path):
  day = datetime.date(2026, 12, 5)
  assert file_util.musician_name('reel_4-4.mid', 'mel_2bar_small', 'sample',
                                 date=day) == (
                                     'reel_4-4-mel_2bar_small-sample-'
                                     '2026-12-05.mid')
  assert file_util.musician_name('../My Tune (final).MID', 'trio/4bar', 'piece',
                                 '.wav', day) == (
                                     'My-Tune-final-trio-4bar-piece-'
                                     '2026-12-05.wav')
  assert file_util.musician_name('', '', '\xff ?', date=day) == (
      'tune-model-music-2026-12-05.mid')
  name = file_util.musician_name('reel.mid', 'mel_2bar_small', 'sample')
  assert datetime.date.today().isoformat() in name
  written = [file_util.write_atomically(
      str(tmp_path / name), lambda tmp: open(tmp, 'wb').close(),
      replace=False)
             for _ in range(3)]
  assert [p.rsplit('/', 1)[1] for p in written] == [
      name, name.replace('.mid', '-2.mid'), name.replace('.mid', '-3.mid')]
