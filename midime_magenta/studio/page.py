"""MidiMe Studio, the paper's page in Gradio: melodies or trios, then 1 Hear
some samples, 2 Choose your sound, 3 Personalize; and more, folded away.

Each tab has its own `studio_lib.Session`; MusicVAEs are shared. Serving
beyond this machine takes a login.
"""

import atexit
import contextlib
import functools
import logging as pylogging
import os
import tempfile
import types

from absl import logging

from midime_magenta import errors
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import plots_lib
from midime_magenta import steering
from midime_magenta.studio import studio_instrument
from midime_magenta.studio import studio_lib
from midime_magenta.studio import studio_server_lib as server

DEFAULT_CHECKPOINTS = ('mel_2bar_small', 'trio_4bar')
DEMO_TUNES = {'reel (O\'Neill, 1850)': os.path.join(
    os.path.dirname(os.path.dirname(__file__)), 'data', 'reel_4-4.mid')}
IDLE_SECONDS = 3600  # A tab idle this long lets its session go.


def _head():
  """The piano roll's and the page's layout rules (studio.css), inline."""
  with open(os.path.join(os.path.dirname(__file__), 'studio.css'),
            encoding='utf-8') as css:
    return f'{plots_lib.roll_head()}<style>{css.read()}</style>'


def _gradio():
  # No usage reports and no version check: nothing leaves the machine.
  os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
  try:
    import gradio  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.UsageError(
        'MidiMe Studio needs Gradio, which is not installed: pip install '
        "'/path/to/midime_magenta[studio]' (Colab ships it).") from None
  return gradio


check_installed = _gradio  # A UsageError naming the install line, if missing.


def _panel(gr, label, key):
  """A result: piano roll, audio, notes and files, shown once it has them."""
  hidden = {'interactive': False, 'visible': False}
  with gr.Group(elem_id=key):
    return [gr.HTML(label=f'{label}: piano roll', elem_id=f'{key}_roll',
                    visible=False),
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
  """`fn(session, *args, tab=...)`, the session busy; an error is one line of
  the step's status (logged with its traceback unless a `MidiMeError`)."""
  gr = _gradio()

  def wrapped(request: gr.Request, session, *args):
    with studio.serving(session), studio_lib.warnings_heard() as heard:
      try:
        result = fn(session, *args, tab=request.session_hash)
        for warning in heard if isinstance(result[1], str) else ():
          result[1] += f' **Note:** {warning}'
          gr.Warning(warning)
        return result
      except Exception as e:  # pylint: disable=broad-except
        if isinstance(e, errors.MidiMeError):
          message = studio_lib.page_words(str(e))
        else:
          logging.error('MidiMe Studio: %s failed', fn.__name__, exc_info=e)
          message = (f'That did not work ({type(e).__name__}); the server '
                     'logged it. Try again, or another file.')
        return [session, f'**Error:** {message}'] + [gr.skip()] * outputs
  return wrapped


def _layout(gr, studio):
  """The page's components by name: each step's status by its button."""
  names = list(studio.checkpoints)
  sound = ('FluidSynth with a General MIDI soundfont'
           if studio.synthesizer == 'fluidsynth' else
           "note_seq's sine synthesizer (apt-get install fluidsynth "
           'fluid-soundfont-gm for real instruments)')
  # A closed tab goes at once (`unload`); an idle or vanished one at the TTL.
  session = gr.State(None, time_to_live=IDLE_SECONDS,
                     delete_callback=studio.close)
  gr.Markdown('# MidiMe Studio\nHear MusicVAE, give it your own MIDI, and in '
              'seconds a small MidiMe learns your sound; then play with its '
              f'super sliders. Audio: {sound}.')
  model = gr.Radio(names, value=names[0], elem_id='model',
                   label='Melodies or trios? (the MusicVAE you play with)')
  instrument = studio_instrument.layout(gr)
  gr.Markdown('## 2. Choose your sound')
  with gr.Row(equal_height=True):
    upload = gr.File(label='Your MIDI file', file_types=['.mid', '.midi'],
                     type='filepath', elem_id='upload', scale=2)
    more = gr.File(label='More tunes to personalize with (several at once)',
                   file_count='multiple', file_types=['.mid', '.midi'],
                   type='filepath', elem_id='more_tunes', scale=2)
    with gr.Column(scale=2):
      demo_tune = gr.Dropdown(list(DEMO_TUNES), value=None,
                              label='or our example', elem_id='demo_tune')
      url = gr.Textbox(label='or an address (http or https), then Enter',
                       elem_id='url')
    tune_status = gr.Markdown('Upload a MIDI file, pick our example or give '
                              'an address.', elem_id='tune_status')
  with gr.Row():
    melody, bass, drums = [gr.Dropdown([], label=f'{k.title()} track',
                                       elem_id=f'{k}_track', visible=False)
                           for k in ('melody', 'bass', 'drum')]
  input_panel = _panel(gr, 'Your tune', 'input')

  gr.Markdown('## 3. Personalize')
  with gr.Row(equal_height=True):
    epochs = gr.Slider(10, 500, 100, step=10, label='Training steps (epochs)',
                       elem_id='epochs')
    train_button = gr.Button('Personalize', variant='primary',
                             elem_id='train', interactive=False)
    train_status = gr.Markdown('Choose your sound first.',
                               elem_id='train_status')
  loss = gr.Image(label='Loss', type='filepath', interactive=False,
                  visible=False, elem_id='loss', height=200)
  with gr.Row():
    untrained_panel = _panel(gr, 'Before: an untrained MidiMe', 'untrained')
    before_panel = _panel(gr, 'MusicVAE alone', 'before')
    after_panel = _panel(gr, 'After: the trained MidiMe', 'after')

  with gr.Accordion('More: five samples in a row, MidiMe\'s sliders, '
                    'steering, rules, a piece', open=False, elem_id='more_box'):
    with gr.Row(equal_height=True):
      prior_button = gr.Button('Sample MusicVAE: 5 chunks', elem_id='prior')
      variation = gr.Slider(0.1, 2.0, 1.0, step=0.1, label='Variation')
      allow_copies = gr.Checkbox(False, label='Allow copies of your chunks')
      sample_button = gr.Button('Sample MidiMe', variant='primary',
                                elem_id='sample')
      samples_status = gr.Markdown('', elem_id='samples_status')
    prior_panel = _panel(gr, 'MusicVAE', 'prior')
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
    with gr.Row():
      attribute_sliders = [gr.Slider(-2, 2, 0, step=0.25, label=steering.
                                     ATTRIBUTE_WORDS[name])
                           for name in steering.ATTRIBUTES]
    steer_button = gr.Button('Steer the MidiMe samples')
    with gr.Row(equal_height=True):
      rules = gr.Textbox(label='Rules (e.g. key:C, density:2-4)')
      constrain_button = gr.Button('Constrain', elem_id='constrain')
    with gr.Row(equal_height=True):
      piece_chunks = gr.Slider(2, 32, 8, step=1, label='Piece: chunks')
      step_size = gr.Slider(0.05, 1.0, 0.3, step=0.05, label='Step size')
      piece_button = gr.Button('Make a piece')
    steer_panel = _panel(gr, 'Steered', 'steered')

  with gr.Accordion('Keep it: your runs, saved and loaded by name',
                    open=False, elem_id='keep_box'):
    with gr.Row(equal_height=True):
      run_name = gr.Textbox(label='Run name', max_length=64,
                            elem_id='run_name')
      save_button = gr.Button('Save', elem_id='save')
      runs = gr.Dropdown(studio.run_names(), value=None, label='Saved runs',
                         elem_id='runs')
      load_button = gr.Button('Load', elem_id='load')
      keep_status = gr.Markdown('', elem_id='keep_status')
  return types.SimpleNamespace(**locals())


class _Actions:
  """Actions: (session, *inputs, tab=...) -> [session, status, *outputs]."""

  def __init__(self, studio, gr):
    self.studio, self.gr = studio, gr

  def tracks_update(self, s):
    pitched, drum_tracks = personalizer_lib.track_menu(s.tune)
    trio = s.kind == 'trio'
    return [self.gr.update(choices=c, value=s.tracks.get(k), visible=v)
            for c, k, v in ((pitched, 'melody', s.kind != 'drums'),
                            (pitched, 'bass', trio),
                            (drum_tracks, 'drums', trio))]

  def shown_input(self, s, shown):
    cut = (f' The page plays and draws its first {studio_lib.PLAYED_SECONDS} '
           's; the MIDI file holds it all.' if shown.cut else '')
    return [s, s.describe_input() + cut, *self.tracks_update(s),
            *_values(s, 'input', shown)]

  def open_tune(self, s, name, path, tune, tab):
    s = self.studio.session(tab, name, s)
    path, label = (path, os.path.basename(path or '')) if path else (
        DEMO_TUNES.get(tune), tune)
    # Gradio takes any file of its folder as an upload; results are not one.
    if not path or os.path.realpath(path).startswith(
        os.path.realpath(os.path.dirname(s.folder)) + os.sep):
      raise errors.UsageError('Upload a MIDI file or pick a tune.')
    return self.shown_input(s, s.open_tune(path, label))

  def open_url(self, s, name, url, tab):
    s = self.studio.session(tab, name, s)
    return self.shown_input(s, s.open_tune(
        *studio_instrument.fetch_tune(s, url)))

  def add_tunes(self, s, paths, tab):  # pylint: disable=unused-argument
    s = studio_lib.need(s)
    return [s, studio_instrument.add_tunes(s, paths)]

  def choose_model(self, s, name, path, tune, tab):
    if path or tune:
      return self.open_tune(s, name, path, tune, tab)
    return [self.studio.session(tab, name, s),
            f'{name}: upload a MIDI file or pick a tune.',
            *[self.gr.skip()] * 7]  # Tracks, input.

  def choose_tracks(self, s, melody_track, bass_track, drum_track, tab):
    s = studio_lib.need(s)
    shown = s.chunk(melody=melody_track, bass=bass_track, drums=drum_track)
    return [s, s.describe_input(), *_values(s, 'input', shown)]

  def prior(self, s, name, tab):
    s = self.studio.session(tab, name, s)
    return [s, 'MusicVAE samples, 5 chunks back to back.',
            *_values(s, 'prior', s.prior())]

  def train(self, s, count, tab, progress=None):  # pylint: disable=unused-argument
    if studio_lib.need(s).chunked is None:
      raise errors.UsageError('Upload a MIDI file or pick a tune first.')
    count, s.trained_note = int(count), None
    on_epoch = None if progress is None else (lambda epoch, logs: progress(
        (epoch + 1, count), desc='Training', unit='epochs'))
    trained, seconds = s.train(count, on_epoch)
    s.trained_note = (f'Trained {len(trained["loss"])} epochs on '
                      f'{len(s.personalizer.training_data.z)} chunks in '
                      f'{seconds:.1f} s.')
    return [s, s.trained_note]

  def compare(self, s, tab):  # pylint: disable=unused-argument
    if not getattr(s, 'trained_note', None):  # The training failed.
      return [s] + [self.gr.skip()] * 14
    shown = zip(('untrained', 'before', 'after'), s.reconstructions())
    return [s, s.trained_note + ' Below: your chunks before and after.',
            *[v for k, x in shown for v in _values(s, k, x)],
            self.gr.update(value=s.loss_png(s.personalizer.history),
                           visible=True)]

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
    known = set(steering.names_for(s.personalizer.music_vae_config))
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
    return [s, s.save(name), self.runs_update()]

  def load(self, s, model, name, tab):
    s = self.studio.session(tab, model, s)
    return [s, s.load(name)]

  def runs_update(self):
    return self.gr.update(choices=self.studio.run_names())


def _wire(ui, actions, page):
  """Each control's event to its action and status; two at once at most."""
  gr = actions.gr

  def wire(event, fn, inputs, outputs, status, **kwargs):
    kwargs = {'concurrency_id': 'work', 'concurrency_limit': 2, **kwargs}
    return event(_handler(actions.studio, fn, len(outputs)),
                 [ui.session, *inputs], [ui.session, status, *outputs],
                 **kwargs)

  tracks = [ui.melody, ui.bass, ui.drums]
  tune = [ui.model, ui.upload, ui.demo_tune]
  opened = [wire(ui.upload.upload, actions.open_tune, tune,
                 tracks + ui.input_panel, ui.tune_status),
            wire(ui.model.input, actions.choose_model, tune,
                 tracks + ui.input_panel, ui.tune_status),
            wire(ui.demo_tune.input, actions.open_tune, tune,
                 tracks + ui.input_panel, ui.tune_status),
            wire(ui.url.submit, actions.open_url, [ui.model, ui.url],
                 tracks + ui.input_panel, ui.tune_status)]
  for dropdown in tracks:
    wire(dropdown.input, actions.choose_tracks, tracks, ui.input_panel,
         ui.tune_status)
  wire(ui.more.upload, actions.add_tunes, [ui.more], [], ui.tune_status)
  wire(ui.prior_button.click, actions.prior, [ui.model], ui.prior_panel,
       ui.samples_status)

  def train(request: gr.Request, session, count, progress=gr.Progress()):
    return _handler(actions.studio, functools.partial(
        actions.train, progress=progress), 0)(request, session, count)
  # One training at a time; Gradio's progress beside the button.
  trained = ui.train_button.click(
      train, [ui.session, ui.epochs], [ui.session, ui.train_status],
      concurrency_limit=1, concurrency_id='train',
      show_progress_on=[ui.train_status])
  wire(trained.success, actions.compare, [],
       ui.untrained_panel + ui.before_panel + ui.after_panel + [ui.loss],
       ui.train_status, show_progress='hidden')
  wire(ui.sample_button.click, actions.sample, [ui.variation, ui.allow_copies],
       ui.midime_panel + ui.beside_panel, ui.samples_status)
  for slider in ui.mm_sliders:
    wire(slider.release, actions.midime_slider, ui.mm_sliders, ui.slider_panel,
         ui.samples_status, trigger_mode='always_last')
  wire(ui.steer_button.click, actions.steer, ui.attribute_sliders,
       ui.steer_panel, ui.samples_status)
  wire(ui.constrain_button.click, actions.constrain, [ui.rules], [],
       ui.samples_status)
  wire(ui.piece_button.click, actions.piece, [ui.piece_chunks, ui.step_size],
       ui.steer_panel, ui.samples_status)
  wire(ui.save_button.click, actions.save, [ui.run_name], [ui.runs],
       ui.keep_status)
  loaded = wire(ui.load_button.click, actions.load, [ui.model, ui.runs], [],
                ui.keep_status)
  for event in opened:  # Personalize once there is a tune to learn.
    event.success(lambda s: [gr.update(interactive=True), 'Ready: train '
                             'MidiMe on your chunks.'] if s and s.chunked
                  is not None else [gr.skip()] * 2, ui.session,
                  [ui.train_button, ui.train_status], queue=False)
  studio_instrument.wire(ui, actions, _handler, [trained, loaded])
  page.load(actions.runs_update, None, ui.runs, queue=False)

  def closed(request: gr.Request):  # The tab is gone: its files too.
    actions.studio.close_tab(request.session_hash)
  page.unload(closed)


def build(studio):
  """The page (a `gradio.Blocks`) over a `server.Studio`."""
  gr = _gradio()
  # A day-old file goes (uploads too); a tab's results go with the tab.
  with gr.Blocks(title='MidiMe Studio', delete_cache=(3600, 86400)) as page:
    _wire(_layout(gr, studio), _Actions(studio, gr), page)
  return page


def launch(checkpoints=None, host='127.0.0.1', port=None, folder=None,
           runs_dir=None, auth=None, max_tabs=server.MAX_TABS, **kwargs):
  """Serves MidiMe Studio (in a notebook, inline); prints who can reach it.

  Args:
    checkpoints: {name: checkpoint} or a list (names, folders, URLs); by
      default the catalogue's mel_2bar_small and trio_4bar.
    host: 127.0.0.1 (this machine only) unless you ask; others need a login.
    port: None picks a free one from 7860, 0 any free one.
    folder: Gradio's folder (`GRADIO_TEMP_DIR`): uploads, and the results.
    runs_dir: the runs library; by default in the user's data folder.
    auth: Gradio's `auth`; beyond this machine without it, a password made
      and printed once.
    max_tabs: tabs at once; a new one replaces the one idle longest.
    **kwargs: more of `gradio.Blocks.launch`'s arguments.

  Returns:
    The serving `gradio.Blocks` (`.close()` stops it).

  Raises:
    errors.UsageError: a folder, checkpoint or address it cannot use.
  """
  gr = _gradio()
  pylogging.getLogger('httpx').setLevel(pylogging.WARNING)  # Gradio's checks.
  if not isinstance(checkpoints, dict):
    checkpoints = {server.checkpoint_name(c): c
                   for c in (checkpoints or DEFAULT_CHECKPOINTS)}
  port, local = server.check_address(host, port)
  runs_dir = server.check_folder(runs_dir or server.default_runs_dir(),
                                 'runs_dir')
  if folder:
    os.environ['GRADIO_TEMP_DIR'] = os.path.abspath(
        server.check_folder(folder, 'folder'))
  os.makedirs(uploads := gr.utils.get_upload_folder(), exist_ok=True)
  folder = tempfile.mkdtemp(prefix='midime_studio_', dir=uploads)
  studio = server.Studio(checkpoints, folder, runs_dir, max_tabs=max_tabs,
                         shared=not local)
  atexit.register(studio.close_all)  # Ctrl-C: no tab's files or uploads left.
  page = build(studio)
  page.queue(default_concurrency_limit=2)
  auth, password = server.login(auth, local)
  # System fonts: the page asks nothing of the internet.
  theme = gr.themes.Default(font=['sans-serif'], font_mono=['monospace'])
  try:
    page.launch(server_name=f'[{host}]' if ':' in host else host,
                server_port=port, prevent_thread_lock=True, theme=theme,
                show_error=False, quiet=True, auth=auth,
                head=_head(),
                max_file_size=studio_lib.MAX_UPLOAD_BYTES,
                **{'share': False, **kwargs})
  except OSError as e:
    raise errors.UsageError(
        f'MidiMe Studio cannot serve on {host}:{port} ({e}); pick another '
        'port or host.') from None
  with contextlib.suppress(OSError, ValueError):  # No stdout to tell.
    print(f'MidiMe Studio: {page.local_url} '
          f'({server.reach(local, page.server_port, password)}; Ctrl-C stops '
          'it).', flush=True)
  return page
