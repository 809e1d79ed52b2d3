"""MidiMe Studio: the MidiMe demo page, and what it lacks, in Gradio.

  from midime_magenta.studio import page as studio
  studio.launch()                      # in Colab: inline; elsewhere: a URL

Each tab has its own `studio_lib.Session` (its tune, its MidiMe); MusicVAEs
are shared. Every action writes a status line in the page's words, never a
traceback. Serving beyond this machine takes a login.
"""

import atexit
import contextlib
import inspect
import logging as pylogging
import os
import secrets
import shutil
import tempfile
import time
import types

from absl import logging

from midime_magenta import errors
from midime_magenta import plots_lib
from midime_magenta import steering
from midime_magenta.studio import studio_instrument
from midime_magenta.studio import studio_lib
from midime_magenta.studio import studio_server_lib

DEFAULT_CHECKPOINTS = ('mel_2bar_small', 'trio_4bar')
DEMO_TUNES = {'reel (O\'Neill, 1850)': os.path.join(
    os.path.dirname(__file__), 'data', 'reel_4-4.mid')}
_INSTALL = "pip install '/path/to/midime_magenta[studio]'"
IDLE_SECONDS = 3600  # A tab idle this long lets its session go.


def check_installed():
  """Raises a UsageError naming the install line when Gradio is missing."""
  _gradio()


def _gradio():
  # No usage reports and no version check: nothing leaves the machine.
  os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
  try:
    import gradio  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.UsageError(
        f'MidiMe Studio needs Gradio, which is not installed: {_INSTALL} '
        '(Colab ships it).') from None
  return gradio


def _panel(gr, label, key):
  """A result: piano roll, audio, notes and files, shown once it has them."""
  hidden = {'interactive': False, 'visible': False}
  with gr.Group(elem_id=key):
    return [gr.Image(label=f'{label}: piano roll', type='filepath',
                     elem_id=f'{key}_roll', **hidden),
            gr.Audio(label=f'{label}: listen', type='filepath',
                     elem_id=f'{key}_audio', **hidden),
            gr.Textbox(label=f'{label}: notes (name, pitch, start s, end s, '
                       'program)', lines=2, max_lines=6,
                       elem_id=f'{key}_notes', **hidden),
            gr.File(label=f'{label}: download MIDI and WAV',
                    file_count='multiple', elem_id=f'{key}_files', **hidden)]


def _values(session, panel, shown):
  session.on_panel(panel, shown.files)
  return [_gradio().update(value=v, visible=True) for v in (
      shown.roll, shown.wav, shown.notes, [shown.midi, shown.wav])]


def _handler(studio, fn, outputs):
  """Runs `fn(session, *args, tab=...)` with the session marked busy; its errors
  become the status line.

  The user's errors (`MidiMeError`) are shown in the page's words; anything
  else is logged with its traceback and shown as one line, and the server
  serves on. A generator (training) is followed update by update.
  """
  gr = _gradio()

  def failed(session, e):
    if isinstance(e, errors.MidiMeError):
      message = studio_lib.page_words(str(e))
    else:
      logging.error('MidiMe Studio: %s failed', fn.__name__, exc_info=e)
      message = (f'That did not work ({type(e).__name__}); the server logged '
                 'it. Try again, or another file.')
    return [session, f'**Error:** {message}'] + [gr.skip()] * outputs

  if inspect.isgeneratorfunction(fn):
    def following(request: gr.Request, session, *args):
      with studio.serving(session):
        try:
          yield from fn(session, *args, tab=request.session_hash)
        except Exception as e:  # pylint: disable=broad-except
          yield failed(session, e)
    return following

  def wrapped(request: gr.Request, session, *args):
    with studio.serving(session):
      try:
        return fn(session, *args, tab=request.session_hash)
      except Exception as e:  # pylint: disable=broad-except
        return failed(session, e)
  return wrapped


def _layout(gr, studio):
  """The page's components, top to bottom, by name."""
  names = list(studio.checkpoints)
  sound = ('FluidSynth with a General MIDI soundfont'
           if studio.synthesizer == 'fluidsynth' else
           "note_seq's sine synthesizer (apt-get install fluidsynth "
           'fluid-soundfont-gm for real instruments)')
  # A tab closed goes at once (`unload`); one idle for IDLE_SECONDS, or that
  # never said it closed, when Gradio lets its state go.
  session = gr.State(None, time_to_live=IDLE_SECONDS,
                     delete_callback=studio.close)
  gr.Markdown('# MidiMe Studio\nPersonalize MusicVAE with your own MIDI, '
              f'in seconds. Audio: {sound}.')
  status = gr.Markdown('Pick a model and a tune.', elem_id='status')
  model = gr.Radio(names, value=names[0], label='Model', elem_id='model')
  instrument = studio_instrument.layout(gr)
  gr.Markdown('## 2. Choose your sound')
  with gr.Row():
    upload = gr.File(label='Your MIDI file', file_types=['.mid', '.midi'],
                     type='filepath', elem_id='upload')
    demo_tune = gr.Dropdown(list(DEMO_TUNES), value=None,
                            label='or a bundled tune', elem_id='demo_tune')
    url = gr.Textbox(label='or an address (http or https)', elem_id='url')
  more = studio_instrument.more_tunes(gr)
  with gr.Row():
    melody = gr.Dropdown([], label='Melody track', elem_id='melody_track')
    bass = gr.Dropdown([], label='Bass track (trios)', visible=False,
                       elem_id='bass_track')
    drums = gr.Dropdown([], label='Drum track (trios)', visible=False,
                        elem_id='drum_track')
  input_panel = _panel(gr, 'Input', 'input')

  prior_button = gr.Button('Sample MusicVAE: 5 chunks', elem_id='prior')
  prior_panel = _panel(gr, 'MusicVAE', 'prior')
  gr.Markdown('## 3. Personalize')
  with gr.Row():
    epochs = gr.Slider(10, 500, 100, step=10, label='Epochs',
                       elem_id='epochs')
    train_button = gr.Button('Train', variant='primary', elem_id='train')
  loss = gr.Image(label='Loss', type='filepath', interactive=False,
                  elem_id='loss')
  with gr.Row():
    untrained_panel = _panel(gr, 'Before: an untrained MidiMe', 'untrained')
    before_panel = _panel(gr, 'MusicVAE alone', 'before')
    after_panel = _panel(gr, 'After: the trained MidiMe', 'after')

  gr.Markdown('## MidiMe samples')
  with gr.Row():
    variation = gr.Slider(0.1, 2.0, 1.0, step=0.1, label='Variation')
    allow_copies = gr.Checkbox(False, label='Allow copies of your chunks')
    sample_button = gr.Button('Sample MidiMe', variant='primary',
                              elem_id='sample')
  with gr.Row():
    midime_panel = _panel(gr, 'MidiMe', 'midime')
    beside_panel = _panel(gr, 'MusicVAE, for comparison', 'beside')
  with gr.Row():
    mm_sliders = [gr.Slider(-studio_lib.SLIDER_RANGE,
                            studio_lib.SLIDER_RANGE, 0, step=0.1,
                            label=f'MidiMe {i + 1}',
                            elem_id=f'midime_slider_{i}')
                  for i in range(4)]
  slider_panel = _panel(gr, 'MidiMe sliders', 'sliders')
  with gr.Accordion('Steer: attributes, rules, a piece', open=False):
    with gr.Row():
      attribute_sliders = [gr.Slider(-2, 2, 0, step=0.25, label=name)
                           for name in steering.ATTRIBUTES]
    steer_button = gr.Button('Steer the MidiMe samples')
    rules = gr.Textbox(label='Rules (e.g. key:C, density:2-4)')
    constrain_button = gr.Button('Constrain')
    with gr.Row():
      piece_chunks = gr.Slider(2, 32, 8, step=1, label='Piece: chunks')
      step_size = gr.Slider(0.05, 1.0, 0.3, step=0.05, label='Step size')
      piece_button = gr.Button('Make a piece')
    steer_panel = _panel(gr, 'Steered', 'steered')

  gr.Markdown('## Keep it\nRuns are kept in the runs library of this '
              'server, by name.')
  with gr.Row():
    run_name = gr.Textbox(label='Run name', max_length=64, elem_id='run_name')
    save_button = gr.Button('Save', elem_id='save')
    runs = gr.Dropdown(studio.run_names(), value=None, label='Saved runs',
                       elem_id='runs')
    load_button = gr.Button('Load', elem_id='load')
  return types.SimpleNamespace(**locals())


class _Actions:
  """What each control does: `action(session, *inputs, tab=...)` returns the
  session, the status line and the outputs' values."""

  def __init__(self, studio, gr):
    self.studio, self.gr = studio, gr

  def fresh(self, session, name, tab):
    return self.studio.session(tab, name, session)

  def tracks_update(self, s):
    pitched, drum_tracks = s.track_choices()
    trio = s.kind == 'trio'
    update = self.gr.update
    return [update(choices=pitched, value=s.tracks.get('melody'),
                   visible=s.kind != 'drums'),
            update(choices=pitched, value=s.tracks.get('bass'), visible=trio),
            update(choices=drum_tracks, value=s.tracks.get('drums'),
                   visible=trio)]

  def shown_input(self, s, shown):
    cut = (f' The page plays and draws its first {studio_lib.PLAYED_SECONDS} '
           's; the MIDI file holds it all.' if shown.cut else '')
    return [s, s.describe_input() + cut, *self.tracks_update(s),
            *_values(s, 'input', shown)]

  def open_tune(self, s, name, path, tune, tab):
    s = self.fresh(s, name, tab)
    path, label = (path, os.path.basename(path or '')) if path else (
        DEMO_TUNES.get(tune), tune)
    # Gradio takes any file of its folder as an upload: the page's results
    # there are not one.
    if not path or os.path.realpath(path).startswith(
        os.path.realpath(os.path.dirname(s.folder)) + os.sep):
      raise errors.UsageError('Upload a MIDI file or pick a tune.')
    return self.shown_input(s, s.open_tune(path, label))

  def open_url(self, s, name, url, tab):
    s = self.fresh(s, name, tab)
    return self.shown_input(s, s.open_tune(
        *studio_instrument.fetch_tune(s, url)))

  def choose_model(self, s, name, path, tune, tab):
    if path or tune:
      return self.open_tune(s, name, path, tune, tab)
    return [self.fresh(s, name, tab),
            f'{name}: upload a MIDI file or pick a tune.',
            *[self.gr.skip()] * 7]  # Tracks, input.

  def choose_tracks(self, s, melody_track, bass_track, drum_track, tab):
    s = studio_lib.need(s)
    shown = s.chunk(melody=melody_track, bass=bass_track, drums=drum_track)
    return [s, s.describe_input(), *_values(s, 'input', shown)]

  def prior(self, s, name, tab):
    s = self.fresh(s, name, tab)
    return [s, 'MusicVAE samples, 5 chunks back to back.',
            *_values(s, 'prior', s.prior())]

  def train(self, s, count, tab):  # pylint: disable=unused-argument
    if studio_lib.need(s).chunked is None:
      raise errors.UsageError('Upload a MIDI file or pick a tune first.')
    history = {'loss': [], 'reconstruction_loss': [], 'kl_loss': []}
    shown_at = time.monotonic()  # The curve every second, from the first.
    for epoch, logs in s.training(int(count)):
      if epoch is None:
        trained, seconds = logs
        break
      for key in history:
        history[key].append(float(logs[key]))
      if time.monotonic() - shown_at > 1.0:  # Spare the page's cores.
        shown_at = time.monotonic()
        yield [s, f'Training: epoch {epoch + 1} of {int(count)} ...',
               s.loss_png(history)] + [self.gr.skip()] * 12
    message = (f'Trained {len(trained["loss"])} epochs on '
               f'{len(s.personalizer.training_data.z)} chunks in '
               f'{seconds:.1f} s.')
    yield [s, message, s.loss_png(trained)] + [self.gr.skip()] * 12
    shown = zip(('untrained', 'before', 'after'), s.reconstructions())
    yield [s, message + ' Below: your chunks before and after.',
           self.gr.skip(), *[v for k, x in shown for v in _values(s, k, x)]]

  def sample(self, s, vary, copies, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    mine, theirs = s.sample(variation=vary, allow_copies=copies)
    return [s, 'MidiMe\'s samples beside MusicVAE\'s, 5 chunks each.',
            *_values(s, 'midime', mine), *_values(s, 'beside', theirs)]

  def midime_slider(self, s, *values, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    return [s, 'MidiMe at the sliders.',
            *_values(s, 'sliders', s.midime_slider(values))]

  def steer(self, s, *strengths, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    attributes = dict(zip(steering.ATTRIBUTES, strengths))
    known = set(s.attribute_names())
    return [s, 'The MidiMe samples, steered.', *_values(s, 'steered', s.steer(
        {k: v for k, v in attributes.items() if k in known}))]

  def constrain(self, s, text, tab):  # pylint: disable=unused-argument
    if not (text or '').strip(' ,\n'):
      raise errors.UsageError('Write at least one rule in the Rules box '
                              '(e.g. key:C, density:2-4).')
    s = studio_lib.need(s)
    return [s, s.constrain(text)]

  def piece(self, s, chunks, size, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    return [s, f'A piece of {int(chunks)} chunks.',
            *_values(s, 'steered', s.piece(int(chunks), size))]

  def save(self, s, name, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    message = s.save(name)
    return [s, message, self.runs_update()]

  def load(self, s, model, name, tab):
    s = self.fresh(s, model, tab)
    return [s, s.load(name)]

  def runs_update(self):
    return self.gr.update(choices=self.studio.run_names())


def _wire(ui, actions, page):
  """Ties each control's event to its action: at most two at once on the
  server's cores (one of them a training), the others in Gradio's queue."""

  def wire(event, fn, inputs, outputs, **kwargs):
    kwargs = {'concurrency_id': 'work', 'concurrency_limit': 2, **kwargs}
    return event(_handler(actions.studio, fn, len(outputs)),
                 [ui.session, *inputs], [ui.session, ui.status, *outputs],
                 **kwargs)

  tracks = [ui.melody, ui.bass, ui.drums]
  tune = [ui.model, ui.upload, ui.demo_tune]
  wire(ui.upload.upload, actions.open_tune, tune, tracks + ui.input_panel)
  wire(ui.model.input, actions.choose_model, tune, tracks + ui.input_panel)
  wire(ui.demo_tune.input, actions.open_tune, tune, tracks + ui.input_panel)
  for dropdown in tracks:
    wire(dropdown.input, actions.choose_tracks, tracks, ui.input_panel)
  wire(ui.prior_button.click, actions.prior, [ui.model], ui.prior_panel)
  # One training at a time; the status line is its progress, with no
  # animation over nine outputs while training shares the cores with the
  # browser.
  wire(ui.url.submit, actions.open_url, [ui.model, ui.url],
       tracks + ui.input_panel)
  trained = wire(ui.train_button.click, actions.train, [ui.epochs],
       [ui.loss, *ui.untrained_panel, *ui.before_panel, *ui.after_panel],
       concurrency_limit=1, concurrency_id='train', show_progress='hidden')
  wire(ui.sample_button.click, actions.sample, [ui.variation, ui.allow_copies],
       ui.midime_panel + ui.beside_panel)
  for slider in ui.mm_sliders:
    wire(slider.release, actions.midime_slider, ui.mm_sliders, ui.slider_panel,
         trigger_mode='always_last')
  wire(ui.steer_button.click, actions.steer, ui.attribute_sliders,
       ui.steer_panel)
  wire(ui.constrain_button.click, actions.constrain, [ui.rules], [])
  wire(ui.piece_button.click, actions.piece, [ui.piece_chunks, ui.step_size],
       ui.steer_panel)
  wire(ui.save_button.click, actions.save, [ui.run_name], [ui.runs])
  loaded = wire(ui.load_button.click, actions.load, [ui.model, ui.runs], [])
  studio_instrument.wire(ui, actions, _handler, [trained, loaded])
  page.load(actions.runs_update, None, ui.runs, queue=False)

  def closed(request: actions.gr.Request):  # The tab is gone: its files too.
    actions.studio.close_tab(request.session_hash)
  page.unload(closed)


def build(studio):
  """The page (a `gradio.Blocks`) over a `studio_server_lib.Studio`."""
  gr = _gradio()
  # Files the page made that are a day old go (uploads among them); a tab's
  # results go with the tab.
  with gr.Blocks(title='MidiMe Studio', delete_cache=(3600, 86400)) as page:
    _wire(_layout(gr, studio), _Actions(studio, gr), page)
  return page


def launch(checkpoints=None, host='127.0.0.1', port=None, folder=None,
           runs_dir=None, auth=None, max_tabs=studio_server_lib.MAX_TABS,
           **kwargs):
  """Serves MidiMe Studio (in a notebook, inline) and prints one line: the
  address, and who can reach it.

  Args:
    checkpoints: {name: checkpoint} or a list of checkpoints (names, folders,
      URLs); the catalogue's mel_2bar_small and trio_4bar by default.
    host: the address to serve on: 127.0.0.1 (this machine only) unless
      you ask for another; any other needs a login.
    port: the port; None picks a free one from 7860, 0 any free one.
    folder: Gradio's folder (`GRADIO_TEMP_DIR`, for the whole process): its
      uploads, and this server's results in a new folder of its own, served
      where they are; Gradio's own by default.
    runs_dir: the runs library; by default in the user's data folder.
    auth: Gradio's `auth`: (user, password), a list of them, or a function.
      Serving beyond this machine without it makes a password, printed once.
    max_tabs: tabs served at once; a new one takes the place of the one idle
      the longest.
    **kwargs: more of `gradio.Blocks.launch`'s arguments.

  Returns:
    The `gradio.Blocks`, serving (`.close()` stops it).

  Raises:
    errors.UsageError: a folder that cannot be written, a checkpoint that is
      not there, or an address that cannot be served on (one sentence).
  """
  gr = _gradio()
  pylogging.getLogger('httpx').setLevel(pylogging.WARNING)  # Gradio's checks.
  if not isinstance(checkpoints, dict):
    checkpoints = {os.path.basename(os.path.normpath(str(c))): c
                   for c in (checkpoints or DEFAULT_CHECKPOINTS)}
  server = studio_server_lib
  port, local = server.check_address(host, port)
  runs_dir = server.check_folder(runs_dir or server.default_runs_dir(),
                                 'runs_dir')
  if folder:
    os.environ['GRADIO_TEMP_DIR'] = os.path.abspath(
        server.check_folder(folder, 'folder'))
  os.makedirs(uploads := gr.utils.get_upload_folder(), exist_ok=True)
  folder = tempfile.mkdtemp(prefix='midime_studio_', dir=uploads)
  atexit.register(shutil.rmtree, folder, True)
  page = build(server.Studio(checkpoints, folder, runs_dir, max_tabs=max_tabs,
                             shared=not local))
  page.queue(default_concurrency_limit=2)
  password = None
  if auth is None and not local:
    password = secrets.token_hex(12)
    auth = ('midime', password)
  # System fonts: the page asks nothing of the internet.
  theme = gr.themes.Default(font=['sans-serif'], font_mono=['monospace'])
  try:
    page.launch(server_name=f'[{host}]' if ':' in host else host,
                server_port=port, prevent_thread_lock=True, theme=theme,
                show_error=False, quiet=True, auth=auth,
                head=plots_lib.roll_head(),
                max_file_size=studio_lib.MAX_UPLOAD_BYTES,
                **{'share': False, **kwargs})
  except OSError as e:
    raise errors.UsageError(
        f'MidiMe Studio cannot serve on {host}:{port} ({e}); pick another '
        'port or host.') from None
  reach = ('this machine only' if local else
           f'any machine that reaches port {page.server_port} here, '
           + (f'logging in as midime with password {password}'
              if password else 'with a login'))
  with contextlib.suppress(OSError, ValueError):  # No stdout to tell.
    print(f'MidiMe Studio: {page.local_url} ({reach}; Ctrl-C stops it).',
          flush=True)
  return page
