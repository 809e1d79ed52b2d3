"""New, not copied: a sample is a copy when its (pitch, onset step) notes
match an input chunk's with F1 >= `COPY_F1`; `renew` redraws copies."""

import numpy as np
from absl import logging

from midime_magenta import windows_lib

COPY_F1 = 0.9
MAX_REDRAWS = 8  # Redraws of a copying sample before it is kept.
ENOUGH_CHUNKS = 16  # Enough music to personalize (bench/enough.py).


def too_little(num_chunks, chunk_bars):
  """What a page says when `num_chunks` chunks are too little music; None when
  enough."""
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
  return 2.0 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def note_f1(reference, candidate):
  """F1 of (pitch, onset step) notes between two chunks."""
  return f1(onset_notes(reference), onset_notes(candidate))


class CopyCheck:
  """Whether a chunk copies one of `inputs` (NoteSequences at 120 qpm)."""

  def __init__(self, inputs, threshold=COPY_F1):
    self.threshold = threshold
    self._inputs = [onset_notes(ns) for ns in inputs]

  def is_copy(self, ns):
    notes = onset_notes(ns)
    return max((f1(x, notes) for x in self._inputs),
               default=0.0) >= self.threshold

  def share(self, samples):
    """The share of `samples` that copy an input chunk; nan without any."""
    return (sum(self.is_copy(s) for s in samples) / len(samples) if samples
            else float('nan'))


def check_for(converter, chunks):
  """A `CopyCheck` against a run's chunk tensors; None without any."""
  if chunks is None or not len(chunks):  # pylint: disable=g-explicit-length-test
    return None
  return CopyCheck(converter.from_tensors(chunks))


def fresh_draws(variation):
  """Redraws for samples: independent draws from N(0, variation^2 I)."""
  return lambda points, rng: (
      variation * rng.standard_normal(points.shape)).astype(np.float32)


def walk_steps(step_size, variation):
  """Redraws for a piece's chunks: one more step of `MidiMe.walk_points`."""
  keep = np.sqrt(1.0 - step_size ** 2)
  return lambda points, rng: (keep * points + step_size * variation *
                              rng.standard_normal(points.shape)).astype(
                                  np.float32)


def redraw_rng(seed):
  """The generator of redraws for draws made with `seed` (another stream)."""
  return np.random.default_rng(None if seed is None else [int(seed), 1])


def renew(sequences, points, check, decode, redraw, rng,
          max_redraws=MAX_REDRAWS):
  """Redraws the sequences that copy an input chunk, `max_redraws` times at
  most (then keeps them).

  Args:
    sequences, points: decoded chunks and their small latents [n, latent_size].
    check: a `CopyCheck`; None (a run without chunks) checks nothing.
    decode: small latents [k, latent_size] -> k NoteSequences.
    redraw: (small latents, rng) -> new small latents.

  Returns:
    (sequences, points, rows still copies): copies replaced, and their latents.
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
        'redraws; they are kept (raise --variation to move farther from '
        'the input).', len(copies), len(sequences), max_redraws)
  return sequences, points, copies
