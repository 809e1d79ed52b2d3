"""Debian's chromium, headless, driven by Selenium (tests and bench/studio.py).

Only the system browser: no browser is downloaded. The flags keep it off the
network (this machine has none beyond the registries) and out of the GPU.
"""

import json
import os

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


def available():
  return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def chromium(profile, downloads=None):
  """A headless chromium with its own profile folder; downloads land in
  `downloads` without a prompt."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in ('--headless=new', '--no-sandbox', '--disable-gpu',
               '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--window-size=1280,1600',
               f'--user-data-dir={profile}'):
    options.add_argument(flag)
  if downloads:
    options.add_experimental_option('prefs', {
        'download.default_directory': str(downloads),
        'download.prompt_for_download': False})
  return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class RawTab:
  """One tab of a Gradio page over raw HTTP (requests; neither a browser nor
  gradio_client, which uploads local files itself): the page's config, its
  upload route, its queue and its heartbeat, as the page's own script uses
  them. Controls are named by elem_id."""

  def __init__(self, url, auth=None, timeout=300):
    import requests  # pylint: disable=g-import-not-at-top
    self.url, self.timeout = url.rstrip('/'), timeout
    self.http = requests.Session()
    if auth:
      self.http.post(f'{self.url}/login', data=dict(
          zip(('username', 'password'), auth)), timeout=60).raise_for_status()
    self.hash = os.urandom(6).hex()
    config = self.http.get(f'{self.url}/config', timeout=60).json()
    self.ids = {}  # elem_id: [component id] (a button and a group may share).
    for c in config['components']:
      self.ids.setdefault(c.get('props', {}).get('elem_id'), []).append(c['id'])
    self.defaults = {c['id']: c.get('props', {}).get('value')
                     for c in config['components']}
    self.events = {}
    for dep in config['dependencies']:
      for target, name in dep['targets']:
        self.events.setdefault((target, name), (dep['id'], dep['inputs']))
    self.heartbeat = None
    self.logs = []  # The toasts the server sent (gr.Warning, gr.Info).

  def open(self):
    """Starts the heartbeat by which Gradio knows the tab is open."""
    self.heartbeat = self.http.get(
        f'{self.url}/gradio_api/heartbeat/{self.hash}', stream=True,
        timeout=60)
    return self

  def close(self):
    """Closes the tab as a browser does: the heartbeat's connection ends."""
    if self.heartbeat is not None:
      self.heartbeat.close()
    self.http.close()

  def upload(self, name, data):
    """Uploads bytes as file `name`; the FileData an upload field sends."""
    response = self.http.post(f'{self.url}/gradio_api/upload',
                              files={'files': (name, data)}, timeout=60)
    response.raise_for_status()
    return file_data(response.json()[0], name)

  def call(self, elem_id, event, **values):
    """Fires `event` of control `elem_id` with the inputs named in `values`
    (the others at their defaults); returns the last outputs, or raises
    RuntimeError with the server's error. An output the server updated with
    `gr.update` (a value and its visibility) is given as its value."""
    trigger = next(i for i in self.ids[elem_id] if (i, event) in self.events)
    fn_index, inputs = self.events[(trigger, event)]
    names = {i: e for e, ids in self.ids.items() for i in ids}
    data = [values.get(names.get(i), self.defaults.get(i)) for i in inputs]
    joined = self.http.post(f'{self.url}/gradio_api/queue/join', json={
        'data': data, 'fn_index': fn_index, 'session_hash': self.hash,
        'trigger_id': trigger, 'event_data': None}, timeout=60)
    joined.raise_for_status()
    event_id = joined.json()['event_id']
    with self.http.get(f'{self.url}/gradio_api/queue/data',
                       params={'session_hash': self.hash}, stream=True,
                       timeout=self.timeout) as stream:
      for line in stream.iter_lines(decode_unicode=True):
        if not line.startswith('data:'):
          continue
        message = json.loads(line[5:])
        if message.get('event_id') != event_id:
          continue
        if message.get('msg') == 'log':  # gr.Warning and gr.Info: toasts.
          self.logs.append(message)
        if message.get('msg') == 'process_completed':
          if not message.get('success'):
            raise RuntimeError(str(message.get('output')))
          return [o.get('value') if isinstance(o, dict) and
                  o.get('__type__') == 'update' else o
                  for o in message['output']['data']]
    raise RuntimeError('the queue closed without an answer')


def file_data(path, name):
  """What an upload field sends for a file at `path` (of the server's)."""
  return {'path': path, 'orig_name': name, 'meta': {'_type': 'gradio.FileData'}}
