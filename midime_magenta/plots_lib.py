"""Loss curves, piano rolls and comparison sheets as palette PNGs drawn with
Pillow (a matplotlib figure per file made midime_generate twice as slow), and
piano rolls that play in a page (`roll_html`)."""

import functools
import html
import itertools
import json
import operator
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
import pretty_midi

from midime_magenta import file_util
from midime_magenta import windows_lib

# Piano-roll geometry (pixels) and colours.
_ROLL_WIDTH = 800
_LANE_HEIGHT = 140
_MARGIN = 24
_PITCH_AXIS = 34  # The left margin holding pitch names.
_TIME_AXIS = 16  # The bottom margin holding bar numbers.
# Palette: white, black, and matplotlib's tab:blue, tab:red, light grey,
# tab:orange, tab:green, tab:purple and tab:gray.
_WHITE, _BLACK, _BLUE, _RED, _GREY, _ORANGE, _GREEN, _PURPLE, _DARK = range(9)
_PALETTE = [255, 255, 255, 0, 0, 0, 31, 119, 180, 214, 39, 40, 217, 217, 217,
            255, 127, 14, 44, 160, 44, 148, 103, 189, 127, 127, 127]
_CURVE_SIZE = (700, 400)
_PLOT_BOX = (60, 36, 680, 360)  # left, top, right, bottom of the axes.
_SHEET_LABEL, _SHEET_PANEL = 160, (200, 110)  # Row labels; one panel.

_font = functools.cache(ImageFont.load_default)


def _canvas(size):
  """A white palette image of `size`, and its ImageDraw."""
  image = Image.new('P', size, _WHITE)
  image.putpalette(_PALETTE)
  draw = ImageDraw.Draw(image)
  draw.font = _font()
  return image, draw


def _save(image, path, replace):
  return file_util.write_atomically(
      path, lambda tmp: image.save(tmp, format='PNG'), replace=replace)


def plot_loss_curve(history, path, title='MidiMe training', replace=True):
  """Plots total, reconstruction and KL loss per epoch, log scale, to a PNG."""
  curves = [('total', history['loss'], _BLUE),
            ('reconstruction', history['reconstruction_loss'], _GREEN),
            ('KL', history['kl_loss'], _ORANGE)]
  values = np.concatenate([np.asarray(v, np.float64) for _, v, _ in curves])
  logs = np.log10(values[np.isfinite(values) & (values > 0)])
  low = np.floor(logs.min()) if len(logs) else 0.0
  high = max(np.ceil(logs.max()), low + 1) if len(logs) else 1.0
  image, draw = _canvas(_CURVE_SIZE)
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
  return _save(image, path, replace)


def _draw_lane(draw, notes, box, total, bar, color, pitches=(), labels=True):
  """Draws `notes` in `box` (left, top, right, bottom): 0 to `total` seconds
  across, with bar lines, and up the range of `pitches` (default: theirs),
  named left of the box."""
  left, top, right, bottom = box
  x_of = lambda t: left + (right - left) * t / total  # pylint: disable=g-long-lambda
  pitches = pitches or [n.pitch for n in notes] or [60]
  low, high = min(pitches) - 2, max(pitches) + 2
  row = (bottom - top) / (high - low + 1)
  draw.rectangle(box, outline=_GREY)
  for x in np.arange(0, total, bar):
    draw.line([x_of(x), top, x_of(x), bottom], fill=_GREY)
  for pitch, name in pitch_labels(low, high) if labels else ():
    y = bottom - (pitch - low + 0.5) * row
    draw.text((left - _PITCH_AXIS + 2, y - 5), name, fill=_BLACK)
    draw.line([left - 4, y, left, y], fill=_BLACK)
  for n in notes:
    y = bottom - (n.pitch - low + 1) * row
    x0 = x_of(n.start_time)
    draw.rectangle([x0, y, max(x_of(n.end_time) - 1, x0 + 1),
                    y + max(row - 1, 1)], fill=color)


def pitch_labels(low, high):
  """[(pitch, name)] to mark on a pitch axis from `low` to `high`: every C
  ('C4' is middle C, 60), or the two ends when the range holds no C."""
  name = pretty_midi.note_number_to_name
  marks = [(p, name(p)) for p in range(low, high + 1) if p % 12 == 0]
  return marks or [(low, name(low)), (high, name(high))]


def plot_piano_roll(ns, path, title='', replace=True):
  """A piano roll PNG of a NoteSequence, one lane per instrument (drums red)."""
  lane_of = operator.attrgetter('is_drum', 'instrument')  # Drums apart.
  lanes = [list(notes) for _, notes in itertools.groupby(
      sorted(ns.notes, key=lane_of), lane_of)] or [[]]
  total = max([ns.total_time, 1e-3] + [n.end_time for n in ns.notes])
  height = _MARGIN + len(lanes) * _LANE_HEIGHT + _TIME_AXIS
  image, draw = _canvas((_ROLL_WIDTH, height))
  draw.text((4, 4), title, fill=_BLACK)
  bar = windows_lib.bar_seconds(ns)
  bars = np.arange(0, total, bar)
  every = max(1, int(np.ceil(len(bars) / 16)))  # At most 16 bar numbers.
  for k in range(0, len(bars), every):
    x = _PITCH_AXIS + (_ROLL_WIDTH - _PITCH_AXIS - 4) * bars[k] / total
    draw.text((x + 2, height - _TIME_AXIS + 2), str(k + 1), fill=_BLACK)
  for i, notes in enumerate(lanes):
    top = _MARGIN + i * _LANE_HEIGHT
    box = (_PITCH_AXIS, top, _ROLL_WIDTH - 4, top + _LANE_HEIGHT - 6)
    drums = bool(notes) and notes[0].is_drum
    if drums:
      draw.text((2, (box[1] + box[3]) // 2 - 5), 'drums', fill=_BLACK)
    _draw_lane(draw, notes, box, total, bar, _RED if drums else _BLUE,
               labels=not drums)
  return _save(image, path, replace)


def roll_head():
  """The <style> and <script> (data/pianoroll.*, inlined: nothing is fetched)
  that make `roll_html`'s divs piano rolls that play, for a page's head."""
  folder = os.path.join(os.path.dirname(__file__), 'data')
  with open(os.path.join(folder, 'pianoroll.css'), encoding='utf-8') as css, (
      open(os.path.join(folder, 'pianoroll.js'), encoding='utf-8')) as js:
    return f'<style>{css.read()}</style>\n<script>{js.read()}</script>'


def roll_html(ns, max_seconds=120.0):
  """A NoteSequence's first `max_seconds` (as the studio's audio) as a piano
  roll that plays in the page, with a playhead on the audio clock: WebAudio
  synthesizes it, nothing is rendered here. The page's head needs `roll_head()`.
  """
  voices = sorted({n.instrument for n in ns.notes})
  notes = [[n.pitch, round(n.start_time, 4), round(n.end_time, 4),
            int(n.is_drum), voices.index(n.instrument), n.program]
           for n in ns.notes if n.start_time < max_seconds]
  seconds = min(max(ns.total_time, 0.5), max_seconds)
  return (f'<div class="midime-roll" data-seconds="{seconds:.4f}" '
          f'data-bar="{windows_lib.bar_seconds(ns):.4f}" '
          f'data-notes="{html.escape(json.dumps(notes))}"></div>')


def plot_comparison_sheet(rows, path, title='', max_columns=5, replace=True):
  """A grid of piano rolls, one row per (label, NoteSequences) group, all on
  one pitch scale so registers compare."""
  columns = max(1, min(max_columns, max(len(seqs) for _, seqs in rows)))
  pitches = [n.pitch for _, seqs in rows for ns in seqs[:columns]
             for n in ns.notes] or [60]
  width, height = _SHEET_PANEL
  left = _SHEET_LABEL + _PITCH_AXIS
  image, draw = _canvas((left + columns * width, _MARGIN + len(rows) * height))
  draw.text((4, 4), title, fill=_BLACK)
  for r, (label, seqs) in enumerate(rows):
    top = _MARGIN + r * height
    draw.text((4, top + height // 2 - 5), label, fill=_BLACK)
    for c, ns in enumerate(seqs[:columns]):
      x = left + c * width
      end = max([ns.total_time] + [n.end_time for n in ns.notes]) or 4.0
      _draw_lane(draw, ns.notes, (x, top, x + width - 6, top + height - 6),
                 end, windows_lib.BAR_SECONDS,
                 (_BLACK, _PURPLE, _BLUE, _DARK)[r % 4], pitches, c == 0)
  return _save(image, path, replace)
