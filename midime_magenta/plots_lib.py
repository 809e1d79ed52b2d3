"""Pictures a person would rather look at than read: loss curves, piano rolls,
and piano rolls that play in a web page (`roll_html`, with `ROLL_HEAD`).

Loss curves and piano rolls are drawn straight to palette PNGs with Pillow: a
matplotlib figure per file made `midime_generate` twice as slow as
`music_vae_generate` at 100 outputs, and its import cost a cold `midime_train`
0.8 s. The comparison sheet uses matplotlib's object interface, never pyplot,
so it needs no GUI backend and leaves a notebook's alone.
"""

import functools
import html
import json
import logging as std_logging
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from midime_magenta import file_util
from midime_magenta import windows_lib

# Piano-roll geometry (pixels) and colours.
_ROLL_WIDTH = 800
_LANE_HEIGHT = 140
_MARGIN = 24
_PITCH_AXIS = 34  # The left margin holding pitch names.
_TIME_AXIS = 16  # The bottom margin holding bar numbers.
_NOTE_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
# Palette indices and colours: white, black, matplotlib's tab:blue (pitched
# notes, as the sheets use), tab:red (drums), light grey (bar lines).
_WHITE, _BLACK, _BLUE, _RED, _GREY = range(5)
_PALETTE = [255, 255, 255, 0, 0, 0, 31, 119, 180, 214, 39, 40, 217, 217, 217,
            255, 127, 14, 44, 160, 44]  # ... tab:orange, tab:green.
_CURVE_SIZE = (700, 400)
_PLOT_BOX = (60, 36, 680, 360)  # left, top, right, bottom of the axes.
_ORANGE, _GREEN = 5, 6  # Palette indices of the KL and reconstruction lines.


@functools.lru_cache(maxsize=None)
def _font():
  """Pillow's default font, loaded once: loading it for every picture cost
  3 ms a roll, as much as all the rest of drawing one."""
  return ImageFont.load_default()


def _draw(image):
  draw = ImageDraw.Draw(image)
  draw.font = _font()
  return draw


def plot_loss_curve(history, path, title='MidiMe training', replace=True):
  """Plots total, reconstruction and KL loss per epoch, log scale, to a PNG."""
  curves = [('total', history['loss'], _BLUE),
            ('reconstruction', history['reconstruction_loss'], _GREEN),
            ('KL', history['kl_loss'], _ORANGE)]
  values = np.concatenate([np.asarray(v, np.float64) for _, v, _ in curves])
  values = values[np.isfinite(values) & (values > 0)]
  low, high = ((np.log10(values.min()), np.log10(values.max()))
               if len(values) else (0.0, 1.0))
  low, high = np.floor(low), max(np.ceil(high), np.floor(low) + 1)
  image = Image.new('P', _CURVE_SIZE, _WHITE)
  image.putpalette(_PALETTE)
  draw = _draw(image)
  left, top, right, bottom = _PLOT_BOX
  epochs = max(len(history['loss']), 2)
  x_of = lambda i: left + (right - left) * i / (epochs - 1)  # pylint: disable=g-long-lambda
  y_of = lambda v: bottom - (bottom - top) * (np.log10(v) - low) / (  # pylint: disable=g-long-lambda
      high - low)
  for decade in range(int(low), int(high) + 1):
    y = y_of(10.0 ** decade)
    draw.line([left, y, right, y], fill=_GREY)
    draw.text((4, y - 6), f'1e{decade}', fill=_BLACK)
  for epoch in np.linspace(1, epochs, 5).round().astype(int):
    draw.text((x_of(epoch - 1) - 8, bottom + 6), str(epoch), fill=_BLACK)
  draw.text(((left + right) // 2 - 14, bottom + 22), 'epoch', fill=_BLACK)
  draw.text((4, 8), 'loss', fill=_BLACK)
  draw.rectangle(_PLOT_BOX, outline=_BLACK)
  draw.text((left, 8), f'{title} (loss per epoch, log scale)', fill=_BLACK)
  for k, (label, series, color) in enumerate(curves):
    points = [(x_of(i), y_of(v)) for i, v in enumerate(series)
              if np.isfinite(v) and v > 0]
    if len(points) > 1:
      draw.line(points, fill=color, width=2)
    draw.line([right - 150, top + 14 + 16 * k, right - 126, top + 14 + 16 * k],
              fill=color, width=3)
    draw.text((right - 120, top + 8 + 16 * k), label, fill=_BLACK)
  return file_util.write_atomically(
      path, lambda tmp: image.save(tmp, format='PNG'), replace=replace)


def _draw_notes(ax, notes, total_time, color, pitch_limits):
  import matplotlib.patches  # pylint: disable=g-import-not-at-top
  for n in notes:
    ax.add_patch(matplotlib.patches.Rectangle(
        (n.start_time, n.pitch - 0.4), max(n.end_time - n.start_time, 0.02),
        0.8, color=color, linewidth=0))
  ax.set_ylim(pitch_limits[0] - 2, pitch_limits[1] + 2)
  ax.set_xlim(0, max(total_time, 1e-3))
  bar = windows_lib.BAR_SECONDS
  for x in np.arange(0, total_time + 1e-6, bar):
    ax.axvline(x, color='0.85', linewidth=0.5, zorder=0)


def pitch_labels(low, high):
  """[(pitch, name)] to mark on a pitch axis from `low` to `high`: every C
  ('C4' is middle C, 60), or the two ends when the range holds no C."""
  name = lambda p: f'{_NOTE_NAMES[p % 12]}{p // 12 - 1}'  # pylint: disable=g-long-lambda
  marks = [(p, name(p)) for p in range(low, high + 1) if p % 12 == 0]
  return marks or [(low, name(low)), (high, name(high))]


def plot_piano_roll(ns, path, title='', replace=True):
  """A piano roll PNG of a NoteSequence, one lane per instrument.

  Time runs left to right, numbered by bar; each lane spans its own pitch range,
  named on the left (every C); drums in red.
  """
  lanes = {}  # One per instrument, drums apart.
  for n in ns.notes:
    lanes.setdefault((n.is_drum, n.instrument), []).append(n)
  lanes = [lanes[k] for k in sorted(lanes)] or [[]]
  total = max(ns.total_time, max((n.end_time for n in ns.notes), default=0),
              1e-3)
  height = _MARGIN + len(lanes) * _LANE_HEIGHT + _TIME_AXIS
  # Five colours in a palette image: PNG-encoding it takes about 1 ms, an
  # RGB one about 10 (the encode was most of a roll's cost).
  image = Image.new('P', (_ROLL_WIDTH, height), _WHITE)
  image.putpalette(_PALETTE)
  draw = _draw(image)
  if title:
    draw.text((4, 4), title, fill=_BLACK)
  x_of = lambda t: _PITCH_AXIS + (_ROLL_WIDTH - _PITCH_AXIS - 4) * t / total  # pylint: disable=g-long-lambda
  bars = np.arange(0, total, windows_lib.bar_seconds(ns))
  every = max(1, int(np.ceil(len(bars) / 16)))  # At most 16 bar numbers.
  for k in range(0, len(bars), every):
    draw.text((x_of(bars[k]) + 2, height - _TIME_AXIS + 2), str(k + 1),
              fill=_BLACK)
  for i, notes in enumerate(lanes):
    top = _MARGIN + i * _LANE_HEIGHT
    bottom = top + _LANE_HEIGHT - 6
    draw.rectangle([_PITCH_AXIS, top, _ROLL_WIDTH - 4, bottom], outline=_GREY)
    for bar in bars:
      draw.line([x_of(bar), top, x_of(bar), bottom], fill=_GREY)
    pitches = [n.pitch for n in notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    row = (bottom - top) / (high - low + 1)
    drums = bool(notes) and notes[0].is_drum
    color = _RED if drums else _BLUE
    if drums:
      draw.text((2, (top + bottom) // 2 - 5), 'drums', fill=_BLACK)
    else:
      for pitch, name in pitch_labels(low, high):
        y = bottom - (pitch - low + 0.5) * row
        draw.text((2, y - 5), name, fill=_BLACK)
        draw.line([_PITCH_AXIS - 4, y, _PITCH_AXIS, y], fill=_BLACK)
    for n in notes:
      y = bottom - (n.pitch - low + 1) * row
      x0 = x_of(n.start_time)
      draw.rectangle([x0, y, max(x_of(n.end_time) - 1, x0 + 1),
                      y + max(row - 1, 1)], fill=color)
  return file_util.write_atomically(
      path, lambda tmp: image.save(tmp, format='PNG'), replace=replace)


def roll_head():
  """The <style> and <script> (data/pianoroll.*, inlined: nothing is fetched)
  that make `roll_html`'s divs piano rolls that play, for a page's head."""
  folder = os.path.join(os.path.dirname(__file__), 'data')
  with open(os.path.join(folder, 'pianoroll.css'), encoding='utf-8') as css, (
      open(os.path.join(folder, 'pianoroll.js'), encoding='utf-8')) as js:
    return f'<style>{css.read()}</style>\n<script>{js.read()}</script>'


def roll_html(ns, max_seconds=120.0):
  """A NoteSequence as a piano roll that plays in the page (its first
  `max_seconds`, as the studio's audio), with a playhead on the audio clock.
  The page's head needs `roll_head()`; WebAudio synthesizes the notes, so
  nothing is rendered on the server.
  """
  voices = sorted({n.instrument for n in ns.notes})
  notes = [[n.pitch, round(n.start_time, 4), round(n.end_time, 4),
            int(n.is_drum), voices.index(n.instrument), n.program]
           for n in ns.notes if n.start_time < max_seconds]
  qpm = ns.tempos[0].qpm if ns.tempos else 120.0
  seconds = min(max(ns.total_time, 0.5), max_seconds)
  return (f'<div class="midime-roll" data-seconds="{seconds:.4f}" '
          f'data-bar="{4 * 60 / qpm:.4f}" '
          f'data-notes="{html.escape(json.dumps(notes))}"></div>')


def plot_comparison_sheet(rows, path, title='', max_columns=5, replace=True):
  """A grid of piano rolls, one row per (label, NoteSequences) group."""
  columns = max(1, min(max_columns, max(len(seqs) for _, seqs in rows)))
  # matplotlib's first import builds its font cache and says so at INFO, which
  # absl's verbosity would show; its own logger is its switch.
  std_logging.getLogger('matplotlib').setLevel(std_logging.WARNING)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(2.6 * columns, 1.5 * len(rows) + 0.6))
  axes = fig.subplots(len(rows), columns, squeeze=False)
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
      if c == 0:  # One pitch axis per row: every panel shares its scale.
        ax.set_ylabel(label, fontsize=9)
        marks = pitch_labels(limits[0] - 2, limits[1] + 2)
        ax.set_yticks([p for p, _ in marks])
        ax.set_yticklabels([n for _, n in marks], fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  return file_util.write_atomically(
      path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches='tight',
                                    format='png'), replace=replace)
