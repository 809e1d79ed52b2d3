"""Helpers for the Colab notebook, plain output when headless (the tests run it)."""

import importlib.util
import os
import tempfile
import time

import note_seq
import numpy as np

from midime_magenta import plots_lib
from midime_magenta import windows_lib


AUDIO_RATE = 16000
# The one tune the package ships: a reel from O'Neill's Music of Ireland (1850).
DEMO_TUNE = os.path.join(os.path.dirname(__file__), 'data', 'reel_4-4.mid')
# Where Colab mounts Google Drive (`drive.mount('/content/drive')`).
DRIVE = '/content/drive/MyDrive'


def in_colab():
  return importlib.util.find_spec('google.colab') is not None  # protobuf's google.


def pick_midi(default=None):
  """In Colab, asks for an upload; elsewhere returns `default` or a bundled tune."""
  if in_colab():
    from google.colab import files  # pylint: disable=g-import-not-at-top
    uploaded = files.upload()
    name = next(iter(uploaded))
    with open(name, 'wb') as f:
      f.write(uploaded[name])
    return os.path.abspath(name)
  return default or DEMO_TUNE


def default_checkpoint():
  """$MIDIME_CHECKPOINT when set, else the catalogue's mel_2bar_small."""
  return os.environ.get('MIDIME_CHECKPOINT') or 'mel_2bar_small'


def save_folder(name='my_midime'):
  """A new folder for `Personalizer.save` ($MIDIME_NOTEBOOK_SAVE_DIR, Google
  Drive's MyDrive/midime/ when mounted, else midime_runs/); prints which."""
  if os.environ.get('MIDIME_NOTEBOOK_SAVE_DIR'):
    return os.environ['MIDIME_NOTEBOOK_SAVE_DIR']
  stamp = time.strftime('%Y-%m-%d_%H%M%S')
  if os.path.isdir(DRIVE):
    folder = os.path.join(DRIVE, 'midime', f'{name}_{stamp}')
    print(f'Saving to Google Drive: {folder}')
  else:
    folder = os.path.abspath(os.path.join('midime_runs', f'{name}_{stamp}'))
    print(f'Google Drive is not mounted, so this saves to {folder}, which '
          'goes with this session' + (
              ' (mount Drive in the Files panel, or with `from google.colab '
              'import drive; drive.mount("/content/drive")`, and run this '
              'again to keep it).' if in_colab() else '.'))
  return folder


def input_chunks(personalizer, chunks, limit=None):
  """The chunks of `personalizer.chunk(...)` as NoteSequences (`limit` first)."""
  outputs = [x for c in chunks for x in c.outputs][:limit]
  return personalizer.music_vae.config.data_converter.from_tensors(outputs)


def show(sequences, title='', listen=True):
  """Draws piano rolls of NoteSequences (joined) and offers them as audio."""
  from IPython import display  # pylint: disable=g-import-not-at-top
  if isinstance(sequences, note_seq.NoteSequence):
    sequences = [sequences]
  # Each chunk in a slot of whole bars.
  bar = windows_lib.BAR_SECONDS
  slot = bar * max(1, np.ceil(max((s.total_time for s in sequences),
                                  default=bar) / bar - 1e-6))
  joined = note_seq.sequences_lib.concatenate_sequences(
      list(sequences), [slot] * len(sequences))
  display.display(_png(lambda path: plots_lib.plot_piano_roll(joined, path,
                                                               title)))
  if listen and joined.notes:
    audio = note_seq.midi_synth.synthesize(joined, sample_rate=AUDIO_RATE)
    display.display(display.Audio(audio, rate=AUDIO_RATE))
  return joined


class LiveLossPlot:
  """A training callback that redraws the loss curve every `every` epochs."""

  def __init__(self, every=10):
    self.every = every
    self.history = {'loss': [], 'reconstruction_loss': [], 'kl_loss': []}
    self._handle = None

  def on_epoch_end(self, epoch, logs):
    for k in self.history:
      self.history[k].append(logs[k])
    if (epoch + 1) % self.every == 0:
      self.draw()

  def draw(self):
    from IPython import display  # pylint: disable=g-import-not-at-top
    image = _png(lambda path: plots_lib.plot_loss_curve(self.history, path))
    if self._handle is None:
      self._handle = display.display(image, display_id=True)
    else:
      self._handle.update(image)


def _png(plot):
  """An IPython Image of what `plot(path)` draws."""
  from IPython import display  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as folder:
    return display.Image(filename=plot(os.path.join(folder, 'plot.png')))


def sliders(personalizer, temperature=0.5):
  """The demo's sliders (headless: each at +2 in turn); returns the last decoded."""
  size = personalizer.midime.hparams.latent_size

  def decode(**values):
    small = np.array([[values[f'dim{i + 1}'] for i in range(size)]],
                     np.float32)
    ns = personalizer.decode(personalizer.midime.decode(small), temperature)[0]
    show(ns, title=str(np.round(small[0], 2)))
    return ns

  if in_colab():
    import ipywidgets  # pylint: disable=g-import-not-at-top
    return ipywidgets.interact_manual(decode, **{
        f'dim{i + 1}': ipywidgets.FloatSlider(min=-3, max=3, step=0.1, value=0)
        for i in range(size)})
  result = None
  for i in range(size):  # Headless: move each slider to +2 in turn.
    values = {f'dim{j + 1}': 2.0 if j == i else 0.0 for j in range(size)}
    result = decode(**values)
  return result


def attribute_sliders(personalizer, names=('note_density', 'c_diatonic',
                                           'average_interval', 'pitch_range'),
                      n=4, seed=2, temperature=0.5):
  """Attribute sliders over the same draws, before and after (headless:
  note_density +1.5); returns the last decoded."""
  def decode(**strengths):
    steered = {k: v for k, v in strengths.items() if v}
    show(personalizer.sample(n, temperature, seed), 'before', listen=False)
    after = personalizer.sample(n, temperature, seed, attributes=steered)
    show(after, f'after {steered or "(no attributes)"}')
    return after

  if in_colab():
    import ipywidgets  # pylint: disable=g-import-not-at-top
    return ipywidgets.interact_manual(decode, **{
        name: ipywidgets.FloatSlider(min=-2, max=2, step=0.25, value=0)
        for name in names})
  return decode(**{name: 1.5 if name == 'note_density' else 0.0
                   for name in names})
