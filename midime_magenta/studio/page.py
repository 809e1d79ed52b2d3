"""MidiMe Studio, the paper's page in Gradio: melodies or trios, then 1 Hear
some samples, 2 Choose your sound, 3 Personalize; and more, folded away.

Each tab has its own `studio_lib.Session`; MusicVAEs are shared. Serving
beyond this machine takes a login.
"""

import atexit
import contextlib
import logging as pylogging
import os
import secrets
import tempfile
import types
import weakref

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


def check_installed():
  """Gradio; a UsageError naming the install line if it is missing."""
  # No usage reports and no version check: nothing leaves the machine.
  os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
  try:
    import gradio  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise errors.UsageError(
        'MidiMe Studio needs Gradio, which is not installed: pip install '
        "'/path/to/midime_magenta[studio]' (Colab ships it).") from None
  return gradio


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
  session.on_panel(panel, [shown.midi, shown.wav])
  return [check_installed().update(value=v, visible=True) for v in (
      shown.roll, shown.wav, shown.notes, [shown.midi, shown.wav])]


def _handler(studio, fn, outputs, mode):
  """`fn(session, *args)` -> [status, *outputs] (the rest left as they are),
  the session busy meanwhile; an error is one line of the status (logged with
  its traceback unless a `MidiMeError`). `fn` gets the tab's session of the
  model, the first input ('open'), the tab's session or the sentence saying
  why it has none ('need'), or the session the page holds ('held')."""
  gr = check_installed()

  def wrapped(request: gr.Request, session, *args):
    with studio.serving(session), studio_lib.warnings_heard() as heard:
      try:
        s = (studio.session(request.session_hash, args[0], session)
             if mode == 'open' else
             studio_lib.need(session) if mode == 'need' else session)
        result = [s, *fn(s, *args)]
        for warning in heard if isinstance(result[1], str) else ():
          result[1] += f' **Note:** {warning}'
          gr.Warning(warning)
      except Exception as e:  # pylint: disable=broad-except
        if isinstance(e, errors.MidiMeError):
          message = studio_lib.page_words(str(e))
        else:
          logging.error('MidiMe Studio: %s failed', fn.__name__, exc_info=e)
          message = (f'That did not work ({type(e).__name__}); the server '
                     'logged it. Try again, or another file.')
        result = [session, f'**Error:** {message}']
    return result + [gr.skip()] * (outputs + 2 - len(result))
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
      mm_sliders = [gr.Slider(-studio_lib.SLIDER_RANGE, studio_lib.SLIDER_RANGE,
                              0, step=0.1, label=f'MidiMe {i + 1}',
                              elem_id=f'midime_slider_{i}') for i in range(4)]
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


def _wire(gr, ui, studio, page):
  """Each control's event to its action and status; two at once at most."""

  def wire(event, fn, inputs, outputs, status, mode='need', **kwargs):
    """Runs `fn` (see `_handler`) on `event`."""
    kwargs = {'concurrency_id': 'work', 'concurrency_limit': 2, **kwargs}
    return event(_handler(studio, fn, len(outputs), mode),
                 [ui.session, *inputs], [ui.session, status, *outputs],
                 **kwargs)

  def shown_input(s, shown):
    pitched, drum_tracks = personalizer_lib.track_menu(s.tune)
    trio = s.kind == 'trio'
    cut = (f' The page plays and draws its first {studio_lib.PLAYED_SECONDS} '
           's; the MIDI file holds it all.' if shown.cut else '')
    return [s.describe_input() + cut,
            *[gr.update(choices=c, value=s.tracks.get(k), visible=v)
              for c, k, v in ((pitched, 'melody', s.kind != 'drums'),
                              (pitched, 'bass', trio),
                              (drum_tracks, 'drums', trio))],
            *_values(s, 'input', shown)]

  def open_tune(s, unused_model, path, tune):
    path, label = (path, os.path.basename(path)) if path else (
        DEMO_TUNES.get(tune), tune)
    # Gradio takes any file of its folder as an upload; results are not one.
    if not path or os.path.realpath(path).startswith(
        os.path.realpath(os.path.dirname(s.folder)) + os.sep):
      raise errors.UsageError('Upload a MIDI file or pick a tune.')
    return shown_input(s, s.open_tune(path, label))

  def open_url(s, unused_model, url):
    return shown_input(s, s.open_tune(*studio_instrument.fetch_tune(s, url)))

  def choose_model(s, name, path, tune):
    if path or tune:
      return open_tune(s, name, path, tune)
    return [f'{name}: upload a MIDI file or pick a tune.']

  def choose_tracks(s, melody_track, bass_track, drum_track):
    shown = s.chunk(melody=melody_track, bass=bass_track, drums=drum_track)
    return [s.describe_input(), *_values(s, 'input', shown)]

  tracks, tune = [ui.melody, ui.bass, ui.drums], [ui.model, ui.upload,
                                                  ui.demo_tune]
  opened = [wire(event, fn, inputs, tracks + ui.input_panel, ui.tune_status,
                 'open') for event, fn, inputs in (
                     (ui.upload.upload, open_tune, tune),
                     (ui.model.input, choose_model, tune),
                     (ui.demo_tune.input, open_tune, tune),
                     (ui.url.submit, open_url, [ui.model, ui.url]))]
  for dropdown in tracks:
    wire(dropdown.input, choose_tracks, tracks, ui.input_panel, ui.tune_status)
  wire(ui.more.upload, lambda s, paths: [studio_instrument.add_tunes(
      s, paths)], [ui.more], [], ui.tune_status)
  wire(ui.prior_button.click, lambda s, model: [
      'MusicVAE samples, 5 chunks back to back.',
      *_values(s, 'prior', s.prior())], [ui.model], ui.prior_panel,
       ui.samples_status, 'open')

  def train_click(request: gr.Request, session, count, progress=gr.Progress()):
    def train(s, count):
      count, s.trained_note = int(count), None
      trained, seconds = s.train(count, lambda epoch, logs: progress(
          (epoch + 1, count), desc='Training', unit='epochs'))
      s.trained_note = (f'Trained {len(trained["loss"])} epochs on '
                        f'{len(s.personalizer.training_data.z)} chunks in '
                        f'{seconds:.1f} s.')
      return [s.trained_note]
    return _handler(studio, train, 0, 'need')(request, session, count)

  def compare(s):
    if not getattr(s, 'trained_note', None):  # The training failed.
      return [gr.skip()]
    shown = zip(('untrained', 'before', 'after'), s.reconstructions())
    return [s.trained_note + ' Below: your chunks before and after.',
            *[v for k, x in shown for v in _values(s, k, x)],
            gr.update(value=s.loss_png(s.personalizer.history), visible=True)]

  def sample(s, vary, copies):
    mine, theirs = s.sample(variation=vary, allow_copies=copies)
    return ['MidiMe\'s samples beside MusicVAE\'s, 5 chunks each.',
            *_values(s, 'midime', mine), *_values(s, 'beside', theirs)]

  def midime_slider(s, *values):
    return ['MidiMe at the sliders.',
            *_values(s, 'sliders', s.midime_slider(values))]

  def steer(s, *strengths):
    known = set(steering.names_for(s.personalizer.music_vae_config))
    return ['The MidiMe samples, steered.', *_values(s, 'steered', s.steer(
        {k: v for k, v in zip(steering.ATTRIBUTES, strengths) if k in known}))]

  def constrain(s, text):
    if not (text or '').strip(' ,\n'):
      raise errors.UsageError('Write at least one rule in the Rules box '
                              '(e.g. key:C, density:2-4).')
    return [studio_lib.need(s).constrain(text)]

  def piece(s, chunks, size):
    return [f'A piece of {int(chunks)} chunks.',
            *_values(s, 'steered', s.piece(int(chunks), size))]

  runs_update = lambda: gr.update(choices=studio.run_names())
  # One training at a time; Gradio's progress beside the button.
  trained = ui.train_button.click(
      train_click, [ui.session, ui.epochs], [ui.session, ui.train_status],
      concurrency_limit=1, concurrency_id='train',
      show_progress_on=[ui.train_status])
  wire(trained.success, compare, [],
       ui.untrained_panel + ui.before_panel + ui.after_panel + [ui.loss],
       ui.train_status, 'held', show_progress='hidden')
  wire(ui.sample_button.click, sample, [ui.variation, ui.allow_copies],
       ui.midime_panel + ui.beside_panel, ui.samples_status)
  for slider in ui.mm_sliders:
    wire(slider.release, midime_slider, ui.mm_sliders, ui.slider_panel,
         ui.samples_status, trigger_mode='always_last')
  wire(ui.steer_button.click, steer, ui.attribute_sliders, ui.steer_panel,
       ui.samples_status)
  wire(ui.constrain_button.click, constrain, [ui.rules], [],
       ui.samples_status, 'held')
  wire(ui.piece_button.click, piece, [ui.piece_chunks, ui.step_size],
       ui.steer_panel, ui.samples_status)
  wire(ui.save_button.click, lambda s, name: [s.save(name), runs_update()],
       [ui.run_name], [ui.runs], ui.keep_status)
  loaded = wire(ui.load_button.click, lambda s, model, name: [s.load(name)],
                [ui.model, ui.runs], [], ui.keep_status, 'open')
  for event in opened:  # Personalize once there is a tune to learn.
    event.success(lambda s: [gr.update(interactive=True), 'Ready: train '
                             'MidiMe on your chunks.'] if s and s.chunked
                  is not None else [gr.skip()] * 2, ui.session,
                  [ui.train_button, ui.train_status], queue=False)
  studio_instrument.wire(gr, ui, wire, [trained, loaded])
  page.load(runs_update, None, ui.runs, queue=False)

  def closed(request: gr.Request):  # The tab is gone: its files too.
    studio.close_tab(request.session_hash)
  page.unload(closed)


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
  gr = check_installed()
  pylogging.getLogger('httpx').setLevel(pylogging.WARNING)  # Gradio's checks.
  if not isinstance(checkpoints, dict):
    checkpoints = server.checkpoint_names(checkpoints or DEFAULT_CHECKPOINTS)
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
  # Ctrl-C: no tab's files or uploads left. Weakly: a page closed in a
  # notebook lets its MusicVAEs go.
  atexit.register(lambda ref=weakref.ref(studio): ref() and ref().close_all())
  # A day-old file goes (uploads too); a tab's results go with the tab.
  with gr.Blocks(title='MidiMe Studio', delete_cache=(3600, 86400)) as page:
    _wire(gr, _layout(gr, studio), studio, page)
  page.queue(default_concurrency_limit=2)
  password = None
  if auth is None and not local:  # Made now, printed once.
    auth = ('midime', password := secrets.token_hex(12))
  with open(os.path.join(os.path.dirname(__file__), 'studio.css'),
            encoding='utf-8') as css:  # The page's layout rules, inline.
    head = f'{plots_lib.roll_head()}<style>{css.read()}</style>'
  # System fonts: the page asks nothing of the internet.
  theme = gr.themes.Default(font=['sans-serif'], font_mono=['monospace'])
  try:
    page.launch(server_name=f'[{host}]' if ':' in host else host,
                server_port=port, prevent_thread_lock=True, theme=theme,
                show_error=False, quiet=True, auth=auth, head=head,
                max_file_size=studio_lib.MAX_UPLOAD_BYTES,
                **{'share': False, **kwargs})
  except OSError as e:
    raise errors.UsageError(
        f'MidiMe Studio cannot serve on {host}:{port} ({e}); pick another '
        'port or host.') from None
  reach = 'this machine only' if local else (
      f'any machine that reaches port {page.server_port} here, ' +
      (f'logging in as midime with password {password}' if password
       else 'with a login'))
  with contextlib.suppress(OSError, ValueError):  # No stdout to tell.
    print(f'MidiMe Studio: {page.local_url} ({reach}; Ctrl-C stops it).',
          flush=True)
  return page
