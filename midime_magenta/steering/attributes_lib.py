"""Attribute vectors in MusicVAE's latent space (MusicVAE paper, section 5.4).

An attribute's vector is the mean z of the chunks in its top quartile minus
that of its bottom quartile, measured on a chunk's melody (every note of a
drum model), over the user's MIDI or prior draws decoded at temperature 0.1.
"""

import collections.abc
import dataclasses

import numpy as np
from absl import logging

from midime_magenta import errors
from midime_magenta import windows_lib

ATTRIBUTES = ('c_diatonic', 'note_density', 'average_interval',
              'syncopation_16th', 'syncopation_8th', 'pitch_range')
# In a musician's words (the studio's sliders).
ATTRIBUTE_WORDS = {
    'c_diatonic': 'In C major (notes of its scale)',
    'note_density': 'Note density',
    'average_interval': 'Leaps (average interval)',
    'syncopation_16th': 'Syncopation (16ths)',
    'syncopation_8th': 'Syncopation (8ths)', 'pitch_range': 'Pitch range'}
DRUM_ATTRIBUTES = ('note_density', 'syncopation_16th', 'syncopation_8th')
C_MAJOR = frozenset({0, 2, 4, 5, 7, 9, 11})
PRIOR_SAMPLES = 1024
PRIOR_TEMPERATURE = 0.1
MIN_CHUNKS = 8  # Fewer gives quartiles of one or two chunks.


class AttributeVectorError(errors.MidiMeError):
  """An unknown attribute, a bad strength, or too few chunks to measure."""


def check_enough_chunks(count, source):
  """Refuses fewer than `MIN_CHUNKS` chunks (AttributeVectorError)."""
  if count < MIN_CHUNKS:
    raise AttributeVectorError(
        f'Attribute vectors need at least {MIN_CHUNKS} chunks, and {source} '
        f'gave {count}; give more MIDI, or leave it out to use MusicVAE\'s '
        'prior.')


def part_notes(ns):
  """The notes an attribute is measured on, sorted by onset (see module doc)."""
  pitched = [n for n in ns.notes if not n.is_drum]
  melody = min((n.instrument for n in pitched), default=None)
  notes = [n for n in pitched if n.instrument == melody] or list(ns.notes)
  return sorted(notes, key=lambda n: (n.start_time, -n.pitch))


def measure(ns, name, chunk_bars):
  """One attribute of one chunk; nan where it is undefined (no notes)."""
  notes = part_notes(ns)
  if name == 'note_density':
    return len({windows_lib.onset_step(n) for n in notes}) / chunk_bars
  if not notes:
    return float('nan')
  pitches = np.array([n.pitch for n in notes])
  onsets = np.array([windows_lib.onset_step(n) for n in notes])
  if name == 'c_diatonic':
    return float(np.mean([p % 12 in C_MAJOR for p in pitches]))
  if name == 'average_interval':
    return float(np.mean(np.abs(np.diff(pitches)))) if len(notes) > 1 else 0.0
  if name == 'syncopation_16th':
    return float(np.mean(onsets % 2 == 1))
  if name == 'syncopation_8th':
    return float(np.mean(onsets % 4 == 2))
  if name == 'pitch_range':
    return float(pitches.max() - pitches.min())
  raise AttributeVectorError(
      f'Unknown attribute {name!r}; use one of {", ".join(ATTRIBUTES)}.')


def names_for(music_vae_config):
  """The attributes that make sense for a MusicVAE config's music."""
  from midime_magenta import chunking_lib  # pylint: disable=g-import-not-at-top
  drums = chunking_lib.converter_kind(music_vae_config) == 'drums'
  return DRUM_ATTRIBUTES if drums else ATTRIBUTES


@dataclasses.dataclass
class AttributeVectors:
  """k attribute `names`, their `vectors` float32 [k, z_size], the quartiles'
  mean values `low` and `high`, and the `source` and `count` of chunks."""
  names: list
  vectors: np.ndarray
  low: list
  high: list
  source: str
  count: int

  def apply(self, z, strengths):
    """z [n, z_size] moved by sum_i strength_i * vector_i, for strengths
    {name: strength_i}."""
    total = np.zeros(self.vectors.shape[1], np.float32)
    for name, strength in (strengths or {}).items():
      if name not in self.names:
        raise AttributeVectorError(
            f'There is no attribute vector for {name!r} here; use one of '
            f'{", ".join(self.names)}.')
      total += np.float32(strength) * self.vectors[self.names.index(name)]
    return np.asarray(z, np.float32) + total


def quartile_vectors(z, sequences, names, chunk_bars, source):
  """`AttributeVectors` of chunks' latents z [n, z_size] and their notes,
  leaving out attributes that do not vary; AttributeVectorError if none does."""
  z = np.asarray(z, np.float32)
  check_enough_chunks(len(z), source)
  kept, vectors, low, high = [], [], [], []
  for name in names:
    values = np.array([measure(ns, name, chunk_bars) for ns in sequences])
    valid = np.flatnonzero(np.isfinite(values))
    if len(valid) < MIN_CHUNKS:
      continue
    order = valid[np.argsort(values[valid], kind='stable')]
    quarter = max(1, len(order) // 4)
    bottom, top = order[:quarter], order[-quarter:]
    if values[top].mean() <= values[bottom].mean():
      continue  # Every chunk alike: no direction.
    kept.append(name)
    vectors.append(z[top].mean(0) - z[bottom].mean(0))
    low.append(float(values[bottom].mean()))
    high.append(float(values[top].mean()))
  if not kept:
    raise AttributeVectorError(
        f'No attribute varies over the {len(z)} chunks of {source}; give more '
        'varied MIDI, or leave it out to use MusicVAE\'s prior.')
  return AttributeVectors(kept, np.stack(vectors).astype(np.float32), low,
                          high, source, int(len(z)))


def compute_vectors(music_vae, inputs=None, seed=0, draws=PRIOR_SAMPLES):
  """Attribute vectors from chunks of `inputs`, or of `draws` prior draws."""
  from midime_magenta import chunking_lib  # pylint: disable=g-import-not-at-top
  names = names_for(music_vae.config)
  bars = music_vae.chunk_steps // windows_lib.STEPS_PER_BAR
  if inputs is None:
    z = music_vae.prior_latents(draws, seed)
    sequences = music_vae.decode(z, PRIOR_TEMPERATURE)
    source = 'prior'
  else:
    chunked = chunking_lib.chunk_inputs(inputs, music_vae.config,
                                        allow_empty=False)
    z = chunking_lib.encode_chunks(music_vae, chunked)
    sequences = music_vae.config.data_converter.from_tensors(
        [x for c in chunked for x in c.outputs])
    source = ', '.join(sorted({c.source for c in chunked if c.num_chunks}))
    source = source if len(source) < 200 else source[:197] + '...'
  vectors = quartile_vectors(z, sequences, names, bars, source)
  logging.info('Attribute vectors from %d chunks of %s: %s.', vectors.count,
               source, '; '.join(f'{n} {lo:.2f} -> {hi:.2f}' for n, lo, hi in
                                 zip(vectors.names, vectors.low, vectors.high)))
  return vectors


def parse_strengths(specs, known=ATTRIBUTES):
  """['note_density:+1.5', ...] -> {'note_density': 1.5, ...}."""
  strengths = {}
  for spec in specs or ():
    name, _, value = str(spec).partition(':')
    name = name.strip()
    if name not in known:
      raise AttributeVectorError(
          f'Unknown attribute {name!r} in --attribute={spec}; use one of '
          f'{", ".join(known)}.')
    try:
      strength = float(value)
    except ValueError:
      strength = float('nan')
    if not np.isfinite(strength) or abs(strength) > 10:
      raise AttributeVectorError(
          f'--attribute={spec} needs a strength from -10 to 10 after the '
          'colon, e.g. note_density:+1.5.')
    strengths[name] = strengths.get(name, 0.0) + strength
  return strengths


def check_strengths(name, strengths, unused_instance=None):
  """`strengths` if None or {name: strength in [-10, 10]}, else UsageError."""
  errors.of_kind(collections.abc.Mapping, 'a dict {name: strength}, e.g. '
                 '{"note_density": 1.5}')(name, strengths, None)
  for key, strength in (strengths or {}).items():
    errors.check_real(f'{name}[{key!r}]', strength, -10, 10)
  return strengths


def to_saved(vectors):
  """(arrays, manifest fields) of attribute vectors, as a run saves them."""
  return ({'vectors': np.asarray(vectors.vectors, np.float32)},
          {'names': list(vectors.names), 'low': list(vectors.low),
           'high': list(vectors.high), 'source': str(vectors.source),
           'count': int(vectors.count)})


def from_saved(arrays, fields, z_size):
  """`to_saved`'s inverse (None without fields), or ValueError saying why."""
  if not fields:
    return None
  names = fields.get('names')
  ok = (isinstance(names, list) and 1 <= len(names) <= len(ATTRIBUTES) and
        len(set(map(str, names))) == len(names) and
        all(n in ATTRIBUTES for n in names) and
        all(isinstance(fields.get(k), list) and len(fields[k]) == len(names) and
            all(isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in fields[k]) for k in ('low', 'high')) and
        isinstance(fields.get('source'), str) and
        isinstance(fields.get('count'), int) and
        list(arrays.get('vectors', np.zeros(0)).shape) == [len(names), z_size])
  if not ok:
    raise ValueError('its attribute vectors are not described as this '
                     'version writes them')
  return AttributeVectors(list(names), arrays['vectors'].astype(np.float32),
                          list(fields['low']), list(fields['high']),
                          fields['source'], fields['count'])
