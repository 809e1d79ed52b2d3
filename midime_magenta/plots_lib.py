"""Pictures a person would rather look at than read: loss curves, piano rolls.

Piano rolls, one beside every generated MIDI file, are drawn straight from
the notes to a PNG with Pillow: a matplotlib figure per file cost about
0.13 s, which made `midime_generate` with its default piano rolls twice as
slow as `music_vae_generate` at 100 outputs (bench/). Loss curves and the
comparison sheet, one per run, use matplotlib, imported only when drawn, and
only its object interface (`Figure`), never pyplot, so drawing a file needs
no GUI backend and never changes a notebook's (`matplotlib.use('Agg')` would
switch Colab's inline plots off).
"""

import logging as std_logging

import numpy as np
from PIL import Image
from PIL import ImageDraw

from midime_magenta import file_util

# Piano-roll geometry (pixels) and colours.
_ROLL_WIDTH = 800
_LANE_HEIGHT = 140
_MARGIN = 24
_PITCHED = (31, 119, 180)  # matplotlib's tab:blue, as the sheets use.
_DRUMS = (214, 39, 40)  # tab:red.
_BAR_LINE = (217, 217, 217)
_BAR_SECONDS = 2.0  # A 4/4 bar at 120 qpm, MusicVAE's output tempo.


def save_figure(fig, path, replace=True, dpi=100):
  """Writes a figure as PNG through the one atomic writer; returns the path."""
  return file_util.write_atomically(
      path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches='tight',
                                    format='png'), replace=replace)


def _subplots(rows=1, columns=1, figsize=(7, 4), **kwargs):
  # matplotlib's first import in a fresh environment builds its font cache
  # and says so at INFO, which absl's verbosity would show; its own logger
  # is its switch.
  std_logging.getLogger('matplotlib').setLevel(std_logging.WARNING)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(rows, columns, **kwargs)


def plot_loss_curve(history, path, title='MidiMe training', replace=True):
  """Plots total, reconstruction and KL loss per epoch to a PNG."""
  fig, ax = _subplots(figsize=(7, 4))
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
  return save_figure(fig, path, replace)


def _lanes(ns):
  """Notes grouped into lanes: one per instrument, drums apart."""
  lanes = {}
  for n in ns.notes:
    lanes.setdefault((n.is_drum, n.instrument), []).append(n)
  return [lanes[k] for k in sorted(lanes)] or [[]]


def _draw_notes(ax, notes, total_time, color, pitch_limits=None):
  import matplotlib.patches  # pylint: disable=g-import-not-at-top
  for n in notes:
    ax.add_patch(matplotlib.patches.Rectangle(
        (n.start_time, n.pitch - 0.4), max(n.end_time - n.start_time, 0.02),
        0.8, color=color, linewidth=0))
  pitches = [n.pitch for n in notes] or [60]
  low, high = pitch_limits or (min(pitches), max(pitches))
  ax.set_ylim(low - 2, high + 2)
  ax.set_xlim(0, max(total_time, 1e-3))
  bar = 2.0  # Seconds per 4/4 bar at 120 qpm, MusicVAE's output tempo.
  for x in np.arange(0, total_time + 1e-6, bar):
    ax.axvline(x, color='0.85', linewidth=0.5, zorder=0)


def plot_piano_roll(ns, path, title='', replace=True):
  """A piano roll PNG of a NoteSequence, one lane per instrument.

  Drawn with Pillow (see module doc): time runs left to right over the whole
  sequence, each lane spans its own pitch range, bar lines every 2 s, drums
  in red, the title at the top.
  """
  lanes = _lanes(ns)
  total = max(ns.total_time, max((n.end_time for n in ns.notes), default=0),
              1e-3)
  height = _MARGIN + len(lanes) * _LANE_HEIGHT + _MARGIN // 2
  image = Image.new('RGB', (_ROLL_WIDTH, height), 'white')
  draw = ImageDraw.Draw(image)
  if title:
    draw.text((4, 4), title, fill='black')
  x_of = lambda t: 4 + (_ROLL_WIDTH - 8) * t / total  # pylint: disable=g-long-lambda
  for i, notes in enumerate(lanes):
    top = _MARGIN + i * _LANE_HEIGHT
    bottom = top + _LANE_HEIGHT - 6
    draw.rectangle([4, top, _ROLL_WIDTH - 4, bottom], outline=_BAR_LINE)
    for bar in np.arange(0, total, _BAR_SECONDS):
      draw.line([x_of(bar), top, x_of(bar), bottom], fill=_BAR_LINE)
    pitches = [n.pitch for n in notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    row = (bottom - top) / (high - low + 1)
    color = _DRUMS if notes and notes[0].is_drum else _PITCHED
    for n in notes:
      y = bottom - (n.pitch - low + 1) * row
      x0 = x_of(n.start_time)
      draw.rectangle([x0, y, max(x_of(n.end_time) - 1, x0 + 1),
                      y + max(row - 1, 1)], fill=color)
  return file_util.write_atomically(
      path, lambda tmp: image.save(tmp, format='PNG'), replace=replace)


def plot_comparison_sheet(rows, path, title='', max_columns=5, replace=True):
  """A grid of piano rolls: one row per group (label, NoteSequences).

  Used for input | reconstruction | MidiMe samples | prior samples.
  """
  columns = max(1, min(max_columns, max(len(seqs) for _, seqs in rows)))
  fig, axes = _subplots(len(rows), columns,
                        figsize=(2.6 * columns, 1.5 * len(rows) + 0.6),
                        squeeze=False)
  colors = ['black', 'tab:purple', 'tab:blue', 'tab:gray']
  # One pitch scale for every panel, so registers can be compared.
  pitches = [n.pitch for _, seqs in rows for ns in seqs[:columns]
             for n in ns.notes] or [60]
  limits = (min(pitches), max(pitches))
  for r, (label, seqs) in enumerate(rows):
    for c in range(columns):
      ax = axes[r, c]
      ax.set_xticks([])
      ax.set_yticks([])
      if c < len(seqs):
        _draw_notes(ax, seqs[c].notes, seqs[c].total_time or 4.0,
                    colors[r % len(colors)], limits)
      else:
        ax.axis('off')
      if c == 0:
        ax.set_ylabel(label, fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  return save_figure(fig, path, replace)
