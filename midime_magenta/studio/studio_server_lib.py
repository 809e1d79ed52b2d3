"""What a MidiMe Studio server shares (`Studio`: MusicVAEs, tabs' sessions,
the runs library by name) and checks (folders, addresses) before it serves.
"""

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import tempfile
import threading
import time

from midime_magenta import audio_lib
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import personalizer as personalizer_lib
from midime_magenta.studio import studio_lib

MAX_TABS = 16
RUN_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}')


def checkpoint_name(checkpoint):
  """A catalogue name as it is; a TF prefix by its folder (not "model.ckpt");
  a file (a .tar) or folder by its own name."""
  path = os.path.normpath(os.path.expanduser(str(checkpoint)))
  if os.path.exists(path + '.index'):
    path = os.path.dirname(path)
  return os.path.splitext(os.path.basename(path))[0] if os.path.isfile(
      path) else os.path.basename(path)


def checkpoint_names(checkpoints):
  """{name on the page: checkpoint}; UsageError if two would share a name."""
  named = {}
  for checkpoint in checkpoints:
    name = checkpoint_name(checkpoint)
    if name in named:
      raise errors.UsageError(
          f'{named[name]} and {checkpoint} would both be called {name!r} on '
          'the page; put each checkpoint in a folder of its own.')
    named[name] = checkpoint
  return named


class Studio:
  """What the tabs share: MusicVAEs restored once, folders, sessions.

  Args:
    checkpoints: {name: checkpoint} (anything `--checkpoint_file` takes); each
      is resolved now, so a missing one is refused before anything serves.
    folder: results (served to the page), a randomly named folder per tab.
    runs_dir: the runs library, where the page saves and loads runs by name.
    batch_size: MusicVAE's graph batch size.
    max_tabs: sessions held at once; a new tab replaces the one idle longest.
    shared: served beyond this machine: a tune's address must then be public.
  """

  def __init__(self, checkpoints, folder, runs_dir=None, batch_size=8,
               max_tabs=MAX_TABS, shared=False):
    if not checkpoints:
      raise errors.UsageError('MidiMe Studio needs at least one checkpoint.')
    self.checkpoints = {}  # name: (config, prefix), each found now.
    for name, checkpoint in checkpoints.items():
      found = personalizer_lib.Personalizer(None, checkpoint)
      self.checkpoints[name] = found.config, found.checkpoint_file
    self.folder, self.batch_size = folder, batch_size
    self.runs_dir = runs_dir or os.path.join(folder, 'runs')
    self.max_tabs, self.shared = max_tabs, shared
    self.synthesizer = audio_lib.synthesizer_name()
    self._music_vaes, self._lock = {}, threading.Lock()
    # One training at a time on the server's cores; others wait their turn.
    self.training_lock = threading.Lock()
    self.tabs = {}  # The sessions by tab (Gradio's session hash).

  def personalizer(self, name):
    """A fresh `Personalizer` on the shared, restored MusicVAE `name`."""
    config, prefix = self.checkpoints[name]
    with self._lock:
      personalizer = personalizer_lib.Personalizer(
          config, music_vae=self._music_vaes.get(name),
          batch_size=self.batch_size)
      personalizer.checkpoint_file = prefix
      self._music_vaes[name] = personalizer.music_vae  # Restored once.
    return personalizer

  def session(self, tab, model, old=None):
    """Tab `tab`'s session of `model`: `old` if it is that, else a new one
    (the tab's others closed, the idlest at `max_tabs`; UsageError if busy)."""
    if old is not None and old.model == model and not old.closed:
      return old
    with self._lock:
      left = self.tabs.pop(tab, None)  # Not `old` if the page never kept it.
      idle = [s for s in self.tabs.values() if not s.busy]
      if len(self.tabs) >= self.max_tabs and not idle:
        raise errors.UsageError(
            f'MidiMe Studio is busy with {len(self.tabs)} tabs; try again in '
            'a minute.')
      oldest = (min(idle, key=lambda s: s.used)
                if len(self.tabs) >= self.max_tabs else None)
    if oldest is not None:
      oldest.evicted = True
      self.close(oldest)
    session = studio_lib.Session(self, model, tab)
    if old is not None:  # The same tab, another model: its uploads stay.
      session.uploads |= old.uploads
    with self._lock:
      self.tabs[tab] = session
    for gone in {old, left} - {None}:  # A failed open's session too.
      self.close(gone)
    return session

  @contextlib.contextmanager
  def serving(self, session):
    """Marks a session busy (never taken for another tab) while it works."""
    if session is not None:
      session.busy += 1
    try:
      yield
    finally:
      if session is not None:
        session.busy -= 1
        session.used = time.monotonic()
        if session.closing and not session.busy:
          session.close()

  def close(self, session):
    """Closes a tab's session now, or when its work in hand ends."""
    if session is None:
      return
    with self._lock:
      if self.tabs.get(session.tab) is session:
        del self.tabs[session.tab]
    if session.busy:
      session.closing = True
    else:
      session.close()

  def close_tab(self, tab):
    self.close(self.tabs.get(tab))

  def close_all(self):
    """At exit: every tab's files and uploads, then the results' folder."""
    for session in list(self.tabs.values()):
      session.close()
    shutil.rmtree(self.folder, ignore_errors=True)

  def release_uploads(self, session):
    """Removes the uploads in Gradio's folder that `session` opened and no
    open tab holds (Gradio keeps one file for all tabs uploading the same)."""
    uploads = os.path.dirname(os.path.abspath(self.folder)) + os.sep
    with self._lock:
      held = set().union(*(s.uploads for s in self.tabs.values()
                           if s is not session and not s.closed))
    for path in session.uploads - held:
      if path.startswith(uploads) and not path.startswith(
          os.path.abspath(self.folder) + os.sep):
        with contextlib.suppress(OSError):
          os.remove(path)
          os.rmdir(os.path.dirname(path))  # Gradio's folder for those bytes.

  def run_names(self):
    """The names of the runs in the library, sorted."""
    try:
      names = os.listdir(self.runs_dir)
    except OSError:
      return []
    def is_run(name):
      try:
        return personalizer_lib.run_music_vae(
            os.path.join(self.runs_dir, name)) is not None
      except errors.MidiMeError:  # Damaged: not offered.
        return False
    return sorted(n for n in names if RUN_NAME.fullmatch(n) and is_run(n))

  def run_path(self, name, new=False):
    """The library's folder of run `name`; `new` claims it atomically."""
    name = (name or '').strip()
    if not RUN_NAME.fullmatch(name):
      raise errors.UsageError(
          'Name the run with letters, digits, spaces, dots, dashes and '
          'underscores (at most 64, starting with a letter or digit).')
    path = os.path.join(self.runs_dir, name)
    if new:
      try:
        os.makedirs(self.runs_dir, exist_ok=True)
        os.mkdir(path)
      except FileExistsError:
        raise errors.UsageError(
            f'There is already a run named {name!r}; choose another name.'
        ) from None
      except OSError as e:
        raise errors.UsageError(
            f'The runs library cannot take {name!r} ({e.strerror}).') from None
    elif name not in self.run_names():
      raise errors.UsageError(f'There is no run named {name!r}; pick one from '
                              'the list.')
    return path


def check_folder(path, what):
  """Creates folder `path` if needed; UsageError unless files can be made."""
  try:
    file_util.check_writable_dir(path, what)
    os.rmdir(tempfile.mkdtemp(dir=path))
  except (OSError, errors.MidiMeError) as e:
    raise errors.UsageError(
        f'{what}={path} cannot hold the studio\'s files '
        f'({getattr(e, "strerror", None) or e}); choose another folder.'
    ) from None
  return path


def default_runs_dir():
  """The runs library unless asked otherwise: in the user's data folder."""
  data = os.environ.get('XDG_DATA_HOME') or os.path.join(
      os.path.expanduser('~'), '.local', 'share')
  return os.path.join(data, 'midime_magenta', 'runs')


def check_address(host, port):
  """(port, whether only this machine reaches `host`) to serve host:port
  (port 0 or None: a free one); raises UsageError."""
  try:
    infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
  except (socket.gaierror, UnicodeError) as e:
    raise errors.UsageError(f'MidiMe Studio cannot serve on {host}: no such '
                            f'address ({getattr(e, "strerror", e)}).') from None
  family, _, _, _, address = infos[0]
  with socket.socket(family, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(address)
    except OSError as e:
      raise errors.UsageError(
          f'MidiMe Studio cannot serve on {host}:{port} ({e.strerror}); pick '
          'another port or host.') from None
    free = probe.getsockname()[1]
  local = all(ipaddress.ip_address(i[4][0].split('%')[0]).is_loopback
              for i in infos)
  return (free if port == 0 else port), local
