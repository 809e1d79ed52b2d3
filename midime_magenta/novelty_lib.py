"""New, not copied: is a sample one of the input's own chunks?

The paper promises samples that resemble the input "without actually
memorizing it". A sample is a copy when its notes, as (pitch, onset step)
pairs, match some input chunk's with F1 >= `COPY_F1` (0.9: one wrong note in
ten still counts, two do not): what a listener hears, not the latents.
`renew` redraws copies up to `MAX_REDRAWS` times.
"""

import numpy as np
from absl import logging

from midime_magenta import windows_lib

COPY_F1 = 0.9
# Redraws of a copying sample before it is kept as it is. At 18% copies a
# sample is still a copy after 8 independent draws with a chance of 1e-6.
MAX_REDRAWS = 8
# Enough music to personalize, measured by bench/enough.py (mel_2bar_small,
# held-out tunes, defaults, 20 raw draws, 6 sets per size): of the draws,
# copies of a trained chunk / draws unlike every other draw, at 1 chunk
# 73% / 23%, 4: 22% / 72%, 8: 11% / 83%, 16: 7% / 91%, 32: 3% / 90%, 64: 0% /
# 92%. From 16 chunks, more music no longer changes them.
ENOUGH_CHUNKS = 16


def too_little(num_chunks, chunk_bars):
  """What a page says when `num_chunks` chunks of `chunk_bars` bars are too
  little music to personalize (and what is enough); None when enough."""
  if num_chunks >= ENOUGH_CHUNKS:
    return None
  return (f'This is only {num_chunks * chunk_bars} bars of music: MidiMe '
          'will often give it back as it is, and its samples will sound alike. '
          f'{ENOUGH_CHUNKS * chunk_bars} bars or more (one tune or several) '
          'give new music.')


def onset_notes(ns):
  """{(pitch, onset step)} of a chunk decoded or cut at MusicVAE's 120 qpm."""
  return {(n.pitch, windows_lib.onset_step(n)) for n in ns.notes}


def f1(a, b):
  """F1 between two sets of (pitch, onset step) notes."""
  if not a and not b:
    return 1.0
  if not a or not b:
    return 0.0
  return 2.0 * len(a & b) / (len(a) + len(b))


def note_f1(reference, candidate):
  """F1 of (pitch, onset step) notes between two chunks."""
  return f1(onset_notes(reference), onset_notes(candidate))


class CopyCheck:
  """Whether a chunk copies one of `inputs` (NoteSequences at 120 qpm), F1 >= `threshold`."""

  def __init__(self, inputs, threshold=COPY_F1):
    self.threshold = threshold
    self._inputs = [onset_notes(ns) for ns in inputs]

  def is_copy(self, ns):
    notes = onset_notes(ns)
    return max((f1(x, notes) for x in self._inputs),
               default=0.0) >= self.threshold

  def share(self, samples):
    """The share of `samples` that copy an input chunk; nan without any."""
    if not samples:
      return float('nan')
    return sum(self.is_copy(s) for s in samples) / len(samples)


def check_for(converter, chunks):
  """A `CopyCheck` against a run's chunk tensors (`TrainingData.chunks`)
  decoded by the MusicVAE's converter; None when there are none."""
  if chunks is None or not len(chunks):  # pylint: disable=g-explicit-length-test
    return None
  return CopyCheck(converter.from_tensors(chunks))


def copy_share(samples, inputs, threshold=COPY_F1):
  """The share of `samples` that copy one of `inputs` (see module doc)."""
  return CopyCheck(inputs, threshold).share(samples)


def fresh_draws(variation):
  """Redraws for samples: independent draws from N(0, variation^2 I)."""
  return lambda points, rng: (
      variation * rng.standard_normal(points.shape)).astype(np.float32)


def walk_steps(step_size, variation):
  """Redraws for a piece's chunks: one more step of the walk from where the
  chunk was (`MidiMe.walk_points`), so the piece stays smooth."""
  keep = np.sqrt(1.0 - step_size ** 2)
  return lambda points, rng: (keep * points + step_size * variation *
                              rng.standard_normal(points.shape)).astype(
                                  np.float32)


def redraw_rng(seed):
  """The generator of redraws for draws made with `seed`: repeatable with
  it, and not the stream the draws themselves came from."""
  return np.random.default_rng(None if seed is None else [int(seed), 1])


def renew(sequences, points, check, decode, redraw, rng,
          max_redraws=MAX_REDRAWS):
  """Redraws the sequences that copy an input chunk.

  Args:
    sequences, points: decoded chunks and their small latents [n, latent_size].
    check: a `CopyCheck`; None (a run without chunks) checks nothing.
    decode: small latents [k, latent_size] -> k NoteSequences.
    redraw: (small latents, rng) -> new small latents.

  Returns:
    (sequences, points, still): copies replaced, their latents, and the rows
    still copies after `max_redraws` rounds.
  """
  sequences, points = list(sequences), np.array(points, np.float32)
  if check is None:
    logging.info('This run holds no chunks to compare with: samples are not '
                 'checked for copies.')
    return sequences, points, []
  copies = [i for i, ns in enumerate(sequences) if check.is_copy(ns)]
  if copies:
    logging.info('Redrawing %d of %d samples that copy one of the input\'s '
                 'chunks.', len(copies), len(sequences))
  for _ in range(max_redraws):
    if not copies:
      break
    points[copies] = redraw(points[copies], rng)
    for i, ns in zip(copies, decode(points[copies])):
      sequences[i] = ns
    copies = [i for i in copies if check.is_copy(sequences[i])]
  if copies:
    logging.warning(
        '%d of %d samples still copy one of the input\'s chunks after %d '
        'redraws; they are kept (a larger --variation moves farther from '
        'the input).', len(copies), len(sequences), max_redraws)
  return sequences, points, copies
