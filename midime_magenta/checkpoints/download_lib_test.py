"""Checkpoint downloads against a local HTTP server on 127.0.0.1.

The server serves ../shared's Magenta.js mel_2bar_small and a .tar made from
its TF checkpoint; it can cut a response short, to test resuming.
"""

import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import tarfile
import threading
import time

import numpy as np
import pytest

from midime_magenta.checkpoints import checkpoint_lib
from midime_magenta import chunking_lib
from midime_magenta import midi_io
from midime_magenta.checkpoints import catalogue_lib
from midime_magenta.checkpoints import download_lib
from midime_magenta import music_vae_lib
from midime_testing import testdata_lib

REEL = testdata_lib.testdata_path('reel_4-4.mid')


class _Handler(http.server.SimpleHTTPRequestHandler):
  """Static files as a storage bucket serves them: Range with If-Range
  against a strong ETag, Content-Range; a request log and fault injection
  (cut a body short, gzip every body whatever the client asked)."""

  def log_message(self, *args):  # Quiet.
    pass

  def do_GET(self):  # pylint: disable=invalid-name
    self.server.requests.append(self.path)
    path = self.translate_path(self.path)
    if not os.path.isfile(path):
      self.send_error(404)
      return
    data = open(path, 'rb').read()
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    start = 0
    header = self.headers.get('Range')
    if header and header.startswith('bytes=') and self.headers.get(
        'If-Range', etag) == etag:
      start = int(header[len('bytes='):].split('-')[0])
    self.server.ranges.append((os.path.basename(path), start))
    body = data[start:]
    self.send_response(206 if start else 200)
    self.send_header('ETag', etag)
    if start:
      self.send_header('Content-Range',
                       f'bytes {start}-{len(data) - 1}/{len(data)}')
    if self.server.gzip:
      body = gzip.compress(body)
      self.send_header('Content-Encoding', 'gzip')
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    cut = self.server.cut_after.pop(os.path.basename(path), None)
    self.wfile.write(body[:cut] if cut else body)
    if cut:
      self.close_connection = True


@pytest.fixture
def server(tmp_path, mel_2bar_small_checkpoint):
  root = tmp_path / 'www'
  shutil.copytree(testdata_lib.shared_path('checkpoints', 'mel_2bar_small_tfjs'),
                  root / 'mel_2bar_small')
  for f in (root / 'mel_2bar_small').iterdir():
    f.chmod(0o644)
  with tarfile.open(root / 'cat-mel_2bar_small.tar', 'w') as tar:
    for suffix in ('.index', '.data-00000-of-00001'):
      tar.add(mel_2bar_small_checkpoint + suffix,
              arcname='cat-mel_2bar_small/model.ckpt' + suffix)
  httpd = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(_Handler, directory=str(root)))
  httpd.requests, httpd.cut_after, httpd.root = [], {}, root
  httpd.ranges, httpd.gzip = [], False
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
  yield httpd
  httpd.shutdown()
  httpd.server_close()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
  monkeypatch.setenv('MIDIME_MAGENTA_CACHE', str(tmp_path / 'cache'))
  monkeypatch.delenv('MIDIME_CHECKPOINT_TABLE', raising=False)


def test_train_from_a_url_then_offline_from_the_cache(server, tmp_path):
  url = f'{server.url}/mel_2bar_small'
  env = {'MIDIME_MAGENTA_CACHE': str(tmp_path / 'cache')}
  first = testdata_lib.run_installed_script(
      'midime_train', '--config=cat-mel_2bar_small',
      f'--checkpoint_file={url}', f'--input_midi={REEL}',
      f'--run_dir={tmp_path / "run1"}', '--num_epochs=3', env=env)
  assert first.returncode == 0, first.stderr
  assert len(server.requests) == 7  # config, manifest, 5 shards.
  server.shutdown()
  server.server_close()
  second = testdata_lib.run_installed_script(
      'midime_train', '--config=cat-mel_2bar_small',
      f'--checkpoint_file={url}', f'--input_midi={REEL}',
      f'--run_dir={tmp_path / "run2"}', '--num_epochs=3', env=env)
  assert second.returncode == 0, second.stderr
  assert len(server.requests) == 7
  listing = testdata_lib.run_installed_script('midime_checkpoints', env=env)
  assert 'mel_2bar_small' in listing.stdout and listing.returncode == 0


def test_tar_url_is_fetched_once_and_kept_once(server):
  url = f'{server.url}/cat-mel_2bar_small.tar'
  prefix = checkpoint_lib.resolve_checkpoint(url).prefix
  assert checkpoint_lib.resolve_checkpoint(url).prefix == prefix
  assert server.requests == ['/cat-mel_2bar_small.tar']
  folder = download_lib.entry_folder(catalogue_lib.entry_for(url))
  # Unpacked and verified, the .tar is gone: one copy in the cache.
  assert not [n for n in os.listdir(folder) if n.endswith('.tar')]
  assert checkpoint_lib.checkpoint_variables(prefix)


def test_a_file_changed_on_the_server_is_fetched_whole_not_spliced(server):
  url = f'{server.url}/mel_2bar_small'
  server.cut_after['group1-shard2of5'] = 300_000
  with pytest.raises(download_lib.DownloadError):
    download_lib.fetch_checkpoint(url)
  shard = server.root / 'mel_2bar_small' / 'group1-shard2of5'
  changed = bytes(b ^ 0x5A for b in shard.read_bytes())
  shard.write_bytes(changed)  # A new version, same size: If-Range fails.
  folder = download_lib.fetch_checkpoint(url)
  assert open(os.path.join(folder, 'group1-shard2of5'), 'rb').read() == changed
  shard2 = [start for name, start in server.ranges
            if name == 'group1-shard2of5']
  assert shard2 == [0, 0]  # The server sent the whole new file.


def test_a_server_that_gzips_anyway_still_gives_a_good_copy(server):
  server.gzip = True
  folder = download_lib.fetch_checkpoint(f'{server.url}/mel_2bar_small')
  for name in os.listdir(server.root / 'mel_2bar_small'):
    assert open(os.path.join(folder, name), 'rb').read() == open(
        server.root / 'mel_2bar_small' / name, 'rb').read()


def test_two_concurrent_fetches_give_one_good_copy(server):
  url = f'{server.url}/mel_2bar_small'
  results, errors = [], []

  def fetch():
    try:
      results.append(download_lib.fetch_checkpoint(url))
    except download_lib.DownloadError as e:  # pragma: no cover (a failure)
      errors.append(e)

  threads = [threading.Thread(target=fetch) for _ in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors and len(set(results)) == 1
  assert len(server.requests) == 7  # Each file once: the second waited.
  for name in os.listdir(server.root / 'mel_2bar_small'):
    assert open(os.path.join(results[0], name), 'rb').read() == open(
        server.root / 'mel_2bar_small' / name, 'rb').read()


def test_gs_paths_are_their_public_https_address():
  entry = catalogue_lib.entry_for(
      'gs://magentadata/js/checkpoints/music_vae/trio_4bar')
  assert entry is catalogue_lib.OFFICIAL_CHECKPOINTS['trio_4bar']
  other = catalogue_lib.entry_for('gs://my-bucket/models/my_vae.tar')
  assert other.url == 'https://storage.googleapis.com/my-bucket/models/my_vae.tar'
  assert other.kind == 'tar'
  assert catalogue_lib.checkpoint_name(other) == 'my_vae'


def test_cut_short_download_is_not_used_and_resumes(server):
  server.cut_after['group1-shard2of5'] = 300_000
  url = f'{server.url}/mel_2bar_small'
  with pytest.raises(download_lib.DownloadError,
                     match='cut short|run again to resume'):
    download_lib.fetch_checkpoint(url)
  entry = catalogue_lib.entry_for(url)
  folder = download_lib.entry_folder(entry)
  assert not download_lib.is_cached(entry)
  assert not os.path.exists(os.path.join(folder, 'group1-shard2of5'))
  kept = os.path.getsize(os.path.join(folder, 'group1-shard2of5.partial'))
  assert 0 < kept <= 300_000
  assert download_lib.fetch_checkpoint(url) == folder  # Resumes.
  shard2 = [start for name, start in server.ranges
            if name == 'group1-shard2of5']
  assert shard2 == [0, kept]  # The second request asked only for the rest.
  assert open(os.path.join(folder, 'group1-shard2of5'), 'rb').read() == open(
      server.root / 'mel_2bar_small' / 'group1-shard2of5', 'rb').read()


def test_corrupted_file_fails_its_pinned_checksum(server, tmp_path, monkeypatch):
  served = server.root / 'mel_2bar_small'
  table = [{'name': 'mirror_mel_2bar_small', 'kind': 'tfjs',
            'url': f'{server.url}/mel_2bar_small',
            'config': 'cat-mel_2bar_small',
            'sha256': {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                       for f in served.iterdir()}}]
  (tmp_path / 'table.json').write_text(json.dumps(table))
  monkeypatch.setenv('MIDIME_CHECKPOINT_TABLE', str(tmp_path / 'table.json'))
  shard = served / 'group1-shard5of5'
  data = bytearray(shard.read_bytes())
  data[100] ^= 0xFF
  shard.write_bytes(bytes(data))
  with pytest.raises(download_lib.DownloadError, match='pinned sha256'):
    checkpoint_lib.resolve_checkpoint('mirror_mel_2bar_small').prefix
  entry = catalogue_lib.known_checkpoints()['mirror_mel_2bar_small']
  folder = download_lib.entry_folder(entry)
  assert not os.path.exists(os.path.join(folder, 'group1-shard5of5'))
  assert not download_lib.is_cached(entry)


def test_truncated_shard_on_the_server_is_detected(server):
  shard = server.root / 'mel_2bar_small' / 'group1-shard5of5'
  shard.write_bytes(shard.read_bytes()[:-10])
  with pytest.raises(download_lib.DownloadError, match='manifest needs'):
    download_lib.fetch_checkpoint(f'{server.url}/mel_2bar_small')


def test_missing_url_and_unsupported_names(server):
  with pytest.raises(download_lib.DownloadError, match='HTTP 404'):
    download_lib.fetch_checkpoint(f'{server.url}/nothing_here')
  with pytest.raises(download_lib.DownloadError,
                     match='not supported: it is chord-conditioned'):
    download_lib.fetch_checkpoint('mel_chords')
  with pytest.raises(download_lib.DownloadError,
                     match='drums_2bar_nade_9_q2'):
    download_lib.fetch_checkpoint('drums_2bar_nade_9')


def test_magenta_js_and_tf_layouts_encode_the_same(mel_2bar_small):
  tfjs = music_vae_lib.load_music_vae(
      'cat-mel_2bar_small',
      testdata_lib.shared_path('checkpoints', 'mel_2bar_small_tfjs'),
      batch_size=16)
  assert tfjs.fingerprint == mel_2bar_small.fingerprint
  chunks = chunking_lib.chunk_note_sequence(midi_io.read_midi_file(REEL),
                                            tfjs.config)
  np.testing.assert_allclose(
      tfjs.encode_tensors(chunks.inputs, chunks.lengths),
      mel_2bar_small.encode_tensors(chunks.inputs, chunks.lengths),
      rtol=1e-5, atol=1e-5)


def test_pinned_official_files_match_the_released_copies():
  """The pins for mel_2bar_small are those of the released files in ../shared."""
  released = testdata_lib.shared_path('official', 'mel_2bar_small_partial',
                                      'runn_mel_2bar_small')
  if released is None:
    pytest.skip('../shared/official is not here.')
  pins = catalogue_lib.OFFICIAL_CHECKPOINTS['mel_2bar_small'].sha256
  for name, digest in pins.items():
    path = os.path.join(released, name)
    assert hashlib.sha256(open(path, 'rb').read()).hexdigest() == digest


class _Hostile(http.server.BaseHTTPRequestHandler):
  """A server that answers 416 to everything, or a bad Content-Length."""

  def log_message(self, *args):  # Quiet.
    pass

  def do_GET(self):  # pylint: disable=invalid-name
    if self.path.endswith('trickle'):  # A byte a second, never the whole.
      self.send_response(200)
      self.send_header('Content-Length', '100000')
      self.end_headers()
      try:
        for _ in range(30):
          self.wfile.write(b'x')
          self.wfile.flush()
          time.sleep(1)
      except OSError:
        pass  # The client gave up: what it should do.
      return
    if self.path.endswith('416'):
      self.send_response(416)
      self.send_header('Content-Length', '0')
      self.end_headers()
      return
    body = b'0123456789'
    self.send_response(200)
    self.send_header('Content-Length', 'ten bytes')
    self.end_headers()
    self.wfile.write(body)
    self.close_connection = True


def test_hostile_servers_give_one_clear_error_or_a_good_file(tmp_path,
                                                            monkeypatch):
  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Hostile)
  threading.Thread(target=httpd.serve_forever, daemon=True).start()
  url = f'http://127.0.0.1:{httpd.server_address[1]}'
  try:
    with pytest.raises(download_lib.DownloadError, match='HTTP 416'):
      download_lib.fetch_file(f'{url}/always-416', str(tmp_path / 'a'))
    # A Content-Length that is no number is ignored; the size we know holds.
    path = download_lib.fetch_file(f'{url}/bad-length', str(tmp_path / 'b'),
                                   size=10)
    assert open(path, 'rb').read() == b'0123456789'
    # A server that trickles: each read gets a byte within any read timeout,
    # so only the stall bound ends it (here 3 s, 60 by default).
    monkeypatch.setattr(download_lib, 'STALL_SECONDS', 3.0)
    started = time.monotonic()
    with pytest.raises(download_lib.DownloadError,
                       match='sent less than 8 KiB in 3 s; stopped'):
      download_lib.fetch_file(f'{url}/trickle', str(tmp_path / 'c'))
    assert time.monotonic() - started < 20
    assert os.path.exists(str(tmp_path / 'c.partial'))  # Kept, to resume.
    assert not os.path.exists(str(tmp_path / 'c'))
  finally:
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize('spoil', ['file', 'file_above'])
def test_a_cache_that_cannot_be_written_is_one_clear_error(
    tmp_path, monkeypatch, spoil):
  """The cache is a file, or under one: one line naming the cache and the
  variable that moves it (read-only and full disks give the same OSError
  path; this machine's tests run as root, which writes anyway)."""
  (tmp_path / 'a_file').write_text('not a folder')
  cache = tmp_path / 'a_file'
  if spoil == 'file_above':
    cache = cache / 'cache'
  monkeypatch.setenv('MIDIME_MAGENTA_CACHE', str(cache))
  with pytest.raises(download_lib.DownloadError,
                     match='cannot be written.*MIDIME_MAGENTA_CACHE'):
    download_lib.fetch_checkpoint('http://127.0.0.1:9/mel_2bar_small')
  assert (tmp_path / 'a_file').read_text() == 'not a folder'


def test_an_error_page_served_as_config_is_not_kept(server):
  """An HTML page with 200 as config.json: refused, and not cached, so the
  next run fetches it again and works."""
  config = server.root / 'mel_2bar_small' / 'config.json'
  good = config.read_bytes()
  config.write_bytes(b'<html><body>Service unavailable</body></html>')
  url = f'{server.url}/mel_2bar_small'
  with pytest.raises(download_lib.DownloadError, match='not a Magenta.js config'):
    download_lib.fetch_checkpoint(url)
  config.write_bytes(good)
  folder = download_lib.fetch_checkpoint(url)
  assert open(os.path.join(folder, 'config.json'), 'rb').read() == good


class _SlowHandler(http.server.BaseHTTPRequestHandler):
  """A MIDI header, then a byte a second for ever (a server that trickles)."""

  def log_message(self, *args):
    pass

  def do_GET(self):  # pylint: disable=invalid-name
    self.send_response(200)
    self.end_headers()
    try:
      self.wfile.write(b'MThd')
      for _ in range(60):
        time.sleep(1)
        self.wfile.write(b'\0')
        self.wfile.flush()
    except OSError:
      pass


def test_a_tune_from_a_url_is_bounded_in_scheme_size_and_time(tmp_path):
  shutil.copy(REEL, tmp_path / 'my reel.mid')
  (tmp_path / 'big.mid').write_bytes(b'MThd' + b'\0' * (5 << 20))
  with testdata_lib.serving(tmp_path) as url:
    name, data = download_lib.fetch_tune(url + '/my%20reel.mid')
    assert name == 'my reel.mid'
    with open(REEL, 'rb') as f:
      assert data == f.read()
    ns = midi_io.read_midi_bytes(data, name)  # What an upload is checked by.
    assert ns.filename == 'my reel.mid' and len(ns.notes) == 94
    for address, says in [
        (url + '/big.mid', 'larger than the 4 MB'),
        (url + '/missing.mid', 'answered HTTP 404'),
        ('file://' + REEL, 'must start with http:// or https://'),
        ('ftp://127.0.0.1/x.mid', 'must start with http:// or https://'),
        ('http:///x.mid', 'name a server'),
        ('http://127.0.0.1:1/x.mid',
         r'could not be fetched \(ConnectionError\)'),
    ]:
      with pytest.raises(download_lib.DownloadError, match=says):
        download_lib.fetch_tune(address)
    # A page served beyond this machine fetches only public addresses: not
    # this machine, its network or a name that resolves there.
    for address in (url + '/my%20reel.mid', 'http://localhost:1/x.mid',
                    'http://10.0.0.1/x.mid', 'http://[::1]/x.mid',
                    'http://169.254.169.254/latest/meta-data'):
      with pytest.raises(download_lib.DownloadError,
                         match='not on the internet; this page fetches only '
                         'public addresses'):
        download_lib.fetch_tune(address, public_only=True)
  slow = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _SlowHandler)
  threading.Thread(target=slow.serve_forever, daemon=True).start()
  try:
    start = time.monotonic()
    with pytest.raises(download_lib.DownloadError, match='more than 2 s'):
      download_lib.fetch_tune(
          f'http://127.0.0.1:{slow.server_address[1]}/x.mid', seconds=2)
    assert time.monotonic() - start < 15  # Stopped, not left to trickle.
  finally:
    slow.shutdown()
    slow.server_close()


# Bodies whose reads never return a block: http.client and urllib3 keep
# reading inside one call (a gzip name that never ends, a chunk-size line or
# trailers that never end), so a clock checked between blocks never runs.
_ENDLESS = {
    'gzip_name': (b'Content-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x08\0\0\0\0\0\x03',
                  b'a'),
    'chunk_size_line': (b'Transfer-Encoding: chunked\r\n\r\n', b'0'),
    'trailers': (b'Transfer-Encoding: chunked\r\n\r\n1\r\nX\r\n0\r\n',
                 b'X-T: 1\r\n'),
}


@pytest.mark.parametrize('mode', sorted(_ENDLESS))
def test_a_body_that_never_ends_is_stopped_on_time(mode, tmp_path,
                                                   monkeypatch):
  import socket  # pylint: disable=g-import-not-at-top
  head, drip = _ENDLESS[mode]
  listener = socket.create_server(('127.0.0.1', 0))
  stop = threading.Event()

  def serve():
    while not stop.is_set():
      try:
        conn, _ = listener.accept()
      except OSError:
        return
      def drip_forever(conn=conn):
        try:
          conn.recv(65536)
          conn.sendall(b'HTTP/1.1 200 OK\r\n' + head)
          while not stop.wait(0.3):
            conn.sendall(drip)
        except OSError:
          pass  # The client gave up: what it should do.
        finally:
          conn.close()
      threading.Thread(target=drip_forever, daemon=True).start()
  threading.Thread(target=serve, daemon=True).start()
  url = f'http://127.0.0.1:{listener.getsockname()[1]}/x.mid'
  monkeypatch.setattr(download_lib, 'STALL_SECONDS', 2.0)
  try:
    for fetch in (lambda: download_lib.fetch_tune(url, seconds=2),
                  lambda: download_lib.fetch_file(url, str(tmp_path / 'f'))):
      started = time.monotonic()
      with pytest.raises(download_lib.DownloadError):
        fetch()
      assert time.monotonic() - started < 15
  finally:
    stop.set()
    listener.close()
