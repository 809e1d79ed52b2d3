"""MidiMe Studio's step 1, as the paper's page has it: one sample of MusicVAE,
sliders over the `SLIDERS` dimensions of z that matter most and, once MidiMe
is trained, its super sliders acting on the same sample (MidiMe's small code
of it). The sample is a piano roll that plays in the page; "Save this sample"
writes its MIDI and WAV. Also: more tunes, and a tune from an address.
"""

import os
import threading

import numpy as np

from midime_magenta import checkpoints
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import novelty_lib
from midime_magenta import plots_lib
from midime_magenta import windows_lib
from midime_magenta.studio import studio_lib

SLIDERS = 16  # MusicVAE's sliders: a decode at any count; 16 fit two rows.
RANGE = 3.0  # MusicVAE's sliders, in standard deviations of its prior.
# Prior samples the dimensions are chosen on: a trio's decode is slow.
DRAWS = 64
_dimensions, _lock = {}, threading.Lock()


def dimensions(music_vae):
  """The SLIDERS dimensions of z that matter most, once per MusicVAE."""
  with _lock:
    if music_vae.fingerprint not in _dimensions:
      _dimensions[music_vae.fingerprint] = [
          int(d) for d in music_vae.important_dimensions(SLIDERS, DRAWS)[0]]
    return _dimensions[music_vae.fingerprint]


class Sample:
  """A tab's current sample: its z, decoded and shown as a playing roll."""

  def __init__(self, session, seed=None):
    self.session = session
    p = session.personalizer
    self.dimensions = dimensions(p.music_vae)
    self.seed, self.z = seed, p.music_vae.prior_latents(1, seed)[0]
    self.sequence = None

  def decoded(self, temperature=0.5):
    """The sample decoded, voiced as the input, and its piano roll's HTML (a
    new sample that decodes to silence is drawn again, up to 5 times)."""
    p = self.session.personalizer
    for again in range(5 if self.sequence is None else 1):
      if again:
        self.z = p.music_vae.prior_latents(
            1, None if self.seed is None else self.seed + again)[0]
      self.sequence = p.voiced(p.decode(self.z[None], temperature))[0]
      if self.sequence.notes:
        break
    return plots_lib.roll_html(self.sequence)

  def super_values(self):
    """MidiMe's small code of the sample (None before training)."""
    midime = self.session.personalizer.midime
    return None if midime is None else [
        float(np.clip(v, -studio_lib.SLIDER_RANGE, studio_lib.SLIDER_RANGE))
        for v in midime.encode(self.z[None])[0]]

  def move(self, values):
    """MusicVAE's sliders: the sample's important dimensions set."""
    self.z = self.z.copy()
    self.z[self.dimensions] = np.asarray(values, np.float32)

  def move_super(self, values):
    """The super sliders: MidiMe's small code set, decoded through MidiMe."""
    midime = self.session.trained().midime
    self.z = midime.decode(np.asarray([values], np.float32))[0]

  def save(self, kept=None):
    """Writes the sample's MIDI and WAV, named tune-model-sample-date."""
    if self.sequence is None:
      raise errors.UsageError('Get a sample first.')
    os.makedirs(folder := os.path.join(self.session.folder, 'kept'),
                exist_ok=True)
    saved = studio_lib.Shown(self.sequence, folder,
                             self.session.file_name('sample'))
    return (kept or []) + [saved.midi, saved.wav]


def sample_of(session, fresh=False):
  """The tab's current sample (a new one when `fresh` or none yet)."""
  if fresh or getattr(session, 'current', None) is None:
    session.current = Sample(session)
  return session.current


def add_tunes(session, paths):
  """More tunes to train on with the first; returns what they give."""
  if session.tune is None:
    raise errors.UsageError('Upload a MIDI file or pick a tune first.')
  more = [session.read_tune(path) for path in paths or ()]
  p = session.personalizer
  session.more = p.chunk(more)
  chunks = sum(c.num_chunks for c in [*session.chunked, *session.more])
  bars = p.music_vae.chunk_steps // windows_lib.STEPS_PER_BAR
  return (f'{len(more) + 1} tunes: {chunks} chunks of {bars} bars to '
          'personalize with (the tracks of each chosen for it). ' +
          (novelty_lib.too_little(chunks, bars) or ''))


def fetch_tune(session, url):
  """A tune from an http(s) address in the tab's folder: (path, name)."""
  name, data = checkpoints.fetch_tune(url, public_only=session.studio.shared)
  os.makedirs(folder := os.path.join(session.folder, 'fetched'), exist_ok=True)
  return file_util.write_atomically(os.path.join(folder, 'tune.mid'),
                                    data), name


def layout(gr):
  """Step 1's controls: get another sample, the sliders, the roll, save."""
  gr.Markdown(
      '## 1. Hear some samples\nMusicVAE describes music with many numbers; '
      'these sliders are the ones that matter most (those its encoder moves '
      'most over music). Once you personalize (step 3), MidiMe\'s super '
      'sliders appear beside them and act on the same sample.')
  with gr.Row():
    another = gr.Button('Get another sample', variant='primary',
                        elem_id='another_sample')
    save = gr.Button('Save this sample', elem_id='save_sample',
                     interactive=False)
    status = gr.Markdown('', elem_id='sample_status')
  with gr.Row():
    with gr.Column(visible=False, scale=1, elem_id='super_box') as super_box:
      gr.Markdown('**Super sliders** (MidiMe)')
      supers = [gr.Slider(-studio_lib.SLIDER_RANGE, studio_lib.SLIDER_RANGE,
                          0, step=0.1, label=f'Super {i + 1}',
                          elem_id=f'super_slider_{i}') for i in range(4)]
    with gr.Column(scale=3):
      sliders = []
      for row in range(SLIDERS // 4):
        with gr.Row():
          sliders += [gr.Slider(-RANGE, RANGE, 0, step=0.1, label=f'{i + 1}',
                                interactive=False, elem_id=f'sample_slider_{i}')
                      for i in range(4 * row, 4 * row + 4)]
  roll = gr.HTML('', elem_id='sample_roll')
  kept = gr.File(label='Saved samples', file_count='multiple',
                 interactive=False, visible=False, elem_id='kept')
  return dict(another=another, save=save, status=status, super_box=super_box,
              supers=supers, sliders=sliders, roll=roll, kept=kept)


def wire(gr, page_ui, wire_event, trained):
  """Step 1's events, by the page's `wire_event`; after `trained`'s events
  (training, loading) the super sliders show."""
  ui, model = page_ui.instrument, page_ui.model
  outputs = [ui['roll'], ui['save'], *ui['sliders'], ui['super_box'],
             *ui['supers']]

  def shown(sample, message, supers=None):
    roll = sample.decoded()  # First: a silent new sample is drawn again.
    supers = supers or sample.super_values()  # Moved ones stay where put.
    return [message, roll, gr.update(interactive=True),
            *[gr.update(value=round(float(np.clip(sample.z[d], -RANGE, RANGE)),
                                    1), interactive=True, label=f'dim {d}')
              for d in sample.dimensions],
            gr.update(visible=supers is not None),
            *[gr.update(value=round(v, 1)) for v in (supers or [0.0] * 4)]]

  def another(s, unused_model):
    return shown(sample_of(s, fresh=True), 'A new sample of MusicVAE.'
                 if s.personalizer.midime is None else 'A new sample.')

  def with_supers(s):
    if getattr(s, 'current', None) is None:  # No sample to act on yet.
      return ['MidiMe\'s super sliders come with your next sample.']
    return shown(sample_of(s), 'MidiMe\'s super sliders are here now, '
                 'beside MusicVAE\'s: they act on this sample.')

  def move(s, *values):
    (sample := sample_of(s)).move(values)
    return ['The sample at the sliders.', sample.decoded()]

  def move_super(s, *values):
    (sample := sample_of(s)).move_super(values)
    return shown(sample, 'The sample at the super sliders.', list(values))

  def save(s, kept):
    files = sample_of(s).save(list(kept or []))
    return [f'Saved {os.path.basename(files[-2])} (and its WAV).',
            gr.update(value=files, visible=True)]

  status, quiet = ui['status'], {'trigger_mode': 'always_last',
                                 'show_progress': 'hidden'}
  wire_event(ui['another'].click, another, [model], outputs, status, 'open')
  for slider in ui['sliders']:
    wire_event(slider.release, move, ui['sliders'], [ui['roll']], status,
               **quiet)
  for slider in ui['supers']:
    wire_event(slider.release, move_super, ui['supers'], outputs, status,
               **quiet)
  wire_event(ui['save'].click, save, [ui['kept']], [ui['kept']], status)
  for event in trained:
    wire_event(event.success, with_supers, [], outputs, status)
