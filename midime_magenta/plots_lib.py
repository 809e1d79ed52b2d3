"""Pictures a person would rather look at than read: loss curves."""

import os

import matplotlib

matplotlib.use('Agg')  # No display on servers and in CI.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def save_figure_atomically(fig, path, dpi=100):
  """Saves a matplotlib figure to a temporary file, then renames it."""
  tmp = f'{path}.{os.getpid()}.tmp.png'
  fig.savefig(tmp, dpi=dpi, bbox_inches='tight')
  plt.close(fig)
  os.replace(tmp, path)
  return path


def plot_loss_curve(history, path, title='MidiMe training'):
  """Plots total, reconstruction and KL loss per epoch to a PNG."""
  fig, ax = plt.subplots(figsize=(7, 4))
  epochs = range(1, len(history['loss']) + 1)
  ax.plot(epochs, history['loss'], label='total', linewidth=2)
  ax.plot(epochs, history['reconstruction_loss'], label='reconstruction')
  ax.plot(epochs, history['kl_loss'], label='KL')
  ax.set_yscale('log')
  ax.set_xlabel('epoch')
  ax.set_ylabel('loss (log scale)')
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend()
  return save_figure_atomically(fig, path)
