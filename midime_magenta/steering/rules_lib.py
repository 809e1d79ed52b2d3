"""Rules a person sets for the music, checked on decoded notes.

  key:C, key:Bb, key:F#m   every pitched note in the key's scale
  density:LO-HI            note onsets per bar of the part
  pitch:LO-HI              every pitched note within MIDI pitches LO-HI

A chunk satisfies a rule set when it has notes and obeys every rule.
"""

import dataclasses
import re

import numpy as np

from midime_magenta.steering import attributes_lib
from midime_magenta import errors
from midime_magenta import windows_lib

_KEY_NAMES = {'C': 0, 'C#': 1, 'DB': 1, 'D': 2, 'D#': 3, 'EB': 3, 'E': 4,
              'F': 5, 'F#': 6, 'GB': 6, 'G': 7, 'G#': 8, 'AB': 8, 'A': 9,
              'A#': 10, 'BB': 10, 'B': 11, 'CB': 11}
RULE_KINDS = ('key', 'density', 'pitch')
# What a run's manifest may hold, so that a constraint saved is one that loads.
MAX_RULES = 16
MAX_RULE_CHARS = 99
RULE_HELP = ('key:C (or G, Bb, F#m ...), density:LO-HI (onsets per bar), '
             'pitch:LO-HI (MIDI pitches)')


class RuleError(errors.MidiMeError):
  """A rule that cannot be read, or that makes no sense for the model."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """One rule on decoded notes (see module doc). `spec` is how it was written."""
  spec: str
  kind: str
  low: float = 0.0
  high: float = 0.0
  pitch_classes: frozenset = frozenset()

  def check(self, ns, chunk_bars):
    """True when the chunk obeys the rule."""
    if self.kind == 'density':
      return self.low <= attributes_lib.measure(
          ns, 'note_density', chunk_bars) <= self.high
    pitched = [n.pitch for n in ns.notes if not n.is_drum]
    if self.kind == 'key':
      return bool(pitched) and all(p % 12 in self.pitch_classes
                                   for p in pitched)
    return bool(pitched) and all(self.low <= p <= self.high for p in pitched)


def _range(spec, value, low_bound, high_bound, unit):
  match = re.fullmatch(r'\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*', value)
  if not match:
    raise RuleError(f'Rule {spec!r} needs a range LO-HI of {unit}, e.g. '
                    f'{spec.split(":")[0]}:{low_bound + 2:g}-{high_bound // 2:g}.')
  low, high = float(match[1]), float(match[2])
  if not low_bound <= low <= high <= high_bound:
    raise RuleError(f'Rule {spec!r}: the range must run upwards within '
                    f'{low_bound:g}-{high_bound:g} {unit}.')
  return low, high


def parse_rule(spec):
  """'key:C' -> Rule; raises RuleError saying what is wrong and how rules are written."""
  spec = str(spec).strip()
  if len(spec) > MAX_RULE_CHARS:
    raise RuleError(f'The rule {spec[:20]!r}... is {len(spec)} characters '
                    f'long; a rule has at most {MAX_RULE_CHARS}: {RULE_HELP}.')
  kind, sep, value = spec.partition(':')
  kind = kind.strip().lower()
  if not sep or kind not in RULE_KINDS:
    raise RuleError(f'Cannot read rule {spec!r}; write one of {RULE_HELP}.')
  if kind == 'key':
    name = value.strip()
    minor = name.endswith('m') and len(name) > 1
    tonic = _KEY_NAMES.get((name[:-1] if minor else name).upper())
    if tonic is None:
      raise RuleError(f'Rule {spec!r} names no key; write e.g. key:C, key:Bb '
                      'or key:F#m.')
    if minor:
      tonic = (tonic + 3) % 12  # The relative major's notes.
    return Rule(spec, 'key', pitch_classes=frozenset(
        (tonic + s) % 12 for s in attributes_lib.C_MAJOR))
  if kind == 'density':
    return Rule(spec, 'density', *_range(spec, value, 0, 16, 'onsets per bar'))
  return Rule(spec, 'pitch', *_range(spec, value, 0, 127, 'MIDI pitches'))


def parse_rules(specs, music_vae_config=None):
  """Several rule specs; refuses none, rules no chunk can obey together, and
  pitch rules on a drum model."""
  rules = [parse_rule(s) for s in specs or ()]
  if not rules:
    raise RuleError(f'Give at least one rule: {RULE_HELP}.',
                    cli=f'Give at least one --rule: {RULE_HELP}.')
  if len(rules) > MAX_RULES:
    raise RuleError(f'{len(rules)} rules were given; a constraint takes at '
                    f'most {MAX_RULES}.')
  # A chunk must have notes, and some pitch must obey every rule.
  specs = ', '.join(r.spec for r in rules)
  if any(r.kind == 'density' and r.high == 0 for r in rules):
    raise RuleError(f'No chunk obeys {specs}: a density of 0 leaves no notes, '
                    'and a chunk must have some.')
  pitches = set(range(128))
  for r in rules:
    if r.kind == 'pitch':
      pitches &= set(range(int(-(-r.low // 1)), int(r.high // 1) + 1))
    elif r.kind == 'key':
      pitches &= {p for p in range(128) if p % 12 in r.pitch_classes}
  if not pitches:
    raise RuleError(f'No chunk obeys {specs}: no pitch is in every key and '
                    'pitch range given.')
  pitched = [r.spec for r in rules if r.kind != 'density']
  if pitched and music_vae_config is not None and (
      attributes_lib.names_for(music_vae_config) ==
      attributes_lib.DRUM_ATTRIBUTES):
    raise RuleError(f'Rule {pitched[0]!r} is about pitches, and a drum '
                    'model\'s notes are drums; use density:LO-HI.')
  return rules


def satisfies(ns, rules, chunk_bars):
  """A chunk satisfies the constraint: it has notes and obeys every rule."""
  return bool(ns.notes) and all(r.check(ns, chunk_bars) for r in rules)


def onsets_kept(before, after):
  """Share of the part's onset steps in `before` still onsets in `after`."""
  a = {windows_lib.onset_step(n) for n in attributes_lib.part_notes(before)}
  b = {windows_lib.onset_step(n) for n in attributes_lib.part_notes(after)}
  return len(a & b) / len(a) if a else float('nan')


def contour(ns, num_steps):
  """The part's sounding pitch at each step (held until the next onset)."""
  line = np.full(num_steps, np.nan)
  for n in attributes_lib.part_notes(ns):
    start = windows_lib.onset_step(n)
    if 0 <= start < num_steps:
      line[start:] = n.pitch
  return line


def contour_correlation(before, after, num_steps):
  """Pearson correlation of two chunks' contours where both sound; nan when
  either is flat or silent."""
  a, b = contour(before, num_steps), contour(after, num_steps)
  both = np.isfinite(a) & np.isfinite(b)
  if both.sum() < 2 or a[both].std() == 0 or b[both].std() == 0:
    return float('nan')
  return float(np.corrcoef(a[both], b[both])[0, 1])


def measure(rules, before, after, chunk_steps):
  """What a constraint did to pairs of chunks decoded from the same draws."""
  bars = chunk_steps // windows_lib.STEPS_PER_BAR
  mean = lambda xs: float(np.nanmean(xs)) if np.isfinite(xs).any() else float('nan')  # pylint: disable=g-long-lambda
  return {
      'chunks': len(before),
      'satisfied_before': mean([satisfies(ns, rules, bars) for ns in before]),
      'satisfied_after': mean([satisfies(ns, rules, bars) for ns in after]),
      'onsets_kept': mean(np.array([onsets_kept(a, b)
                                    for a, b in zip(before, after)])),
      'contour_correlation': mean(np.array(
          [contour_correlation(a, b, chunk_steps)
           for a, b in zip(before, after)])),
      'per_rule': {r.spec: {
          'before': mean([r.check(ns, bars) for ns in before]),
          'after': mean([r.check(ns, bars) for ns in after])} for r in rules},
  }

