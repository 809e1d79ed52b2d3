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


def test_ctrl_c_at_any_step_leaves_no_empty_or_temporary_file(tmp_path,
                                                               monkeypatch):
  """A CI run's Ctrl-C once left an empty file under a free name."""
  import errno  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import pytest  # pylint: disable=g-import-not-at-top

  def interrupted_after(name):
    real = getattr(os, name)
    def call(*args, **kwargs):
      result = real(*args, **kwargs)
      raise KeyboardInterrupt
    return call

  def no_links(*_):
    raise OSError(errno.EPERM, 'no hard links')

  target = tmp_path / 'sample.mid'
  # Where there are no hard links, Ctrl-C between the claim of a name and
  # the replace can still leave it empty (not tested: no such file system).
  cases = [('fsync', False), ('link', False), ('remove', False),
           ('fsync', True), ('replace', True)]
  for step, links_missing in cases:
    target.write_bytes(b'taken')  # So a free name is picked.
    with monkeypatch.context() as patch:
      if links_missing:
        patch.setattr(os, 'link', no_links)
      patch.setattr(os, step, interrupted_after(step))
      with pytest.raises(KeyboardInterrupt):
        file_util.write_atomically(str(target), b'MThd', replace=False)
    names = sorted(os.listdir(tmp_path))
    assert not [n for n in names if file_util.is_temporary(n)], (step, names)
    assert all((tmp_path / n).read_bytes() in (b'taken', b'MThd')
               for n in names), (step, links_missing, names)
    for n in names:
      os.remove(tmp_path / n)


def test_nearest_existing_names_the_folder_there_and_the_first_to_create(
    tmp_path):
  assert file_util.nearest_existing(tmp_path / 'a' / 'b') == (
      str(tmp_path), str(tmp_path / 'a'))
  assert file_util.nearest_existing(tmp_path) == (str(tmp_path), None)


def test_threads_writing_one_name_each_get_a_whole_file(tmp_path):
  """The studio writes from Gradio's threads (a double-clicked Keep)."""
  import os  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  content = [bytes([i]) * 1000 for i in range(8)]
  for _ in range(20):
    threads = [threading.Thread(target=file_util.write_atomically, args=(
        str(tmp_path / 'keep.mid'), c), kwargs={'replace': False})
               for c in content]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    names = os.listdir(tmp_path)
    assert sorted((tmp_path / n).read_bytes() for n in names) == content
    for n in names:
      os.remove(tmp_path / n)


def test_without_hard_links_a_failed_replace_leaves_no_claim(tmp_path,
                                                             monkeypatch):
  import errno  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import pytest  # pylint: disable=g-import-not-at-top

  def fails(*_):
    raise OSError(errno.EIO, 'input/output error')
  monkeypatch.setattr(os, 'link', lambda *_: (_ for _ in ()).throw(
      OSError(errno.EPERM, 'no hard links')))
  monkeypatch.setattr(os, 'replace', fails)
  with pytest.raises(file_util.OutputError):
    file_util.write_atomically(str(tmp_path / 'a.mid'), b'MThd',
                               replace=False)
  assert not os.listdir(tmp_path)
