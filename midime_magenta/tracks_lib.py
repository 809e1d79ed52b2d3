"""Which tracks of a song are used (the user's choice wins), and the voicing
outputs are written in."""

import collections
import copy
import dataclasses
import math

import note_seq
import numpy as np

from midime_magenta import midi_io
from midime_magenta import windows_lib

# The programs MusicVAE decodes a melody and a trio's bass on.
MUSIC_VAE_PROGRAMS = {'melody': 0, 'bass': 33}
MIN_QPM = 3.577  # MIDI's slowest tempo, rounded up to a voicing's 3 decimals.


@dataclasses.dataclass
class TrackStats:
  instrument: int
  program: int
  num_notes: int
  distinct_pitches: int
  pitch_range: int
  mean_pitch: float
  polyphony: float  # Share of notes that start while another still sounds.

  @property
  def melody_score(self):
    """Higher for a likelier melody: the demo's range, distinct pitches and
    polyphony, and register (the tune is on top); never negative."""
    register = max(0.0, self.mean_pitch - 21.0)  # Semitones above A0.
    return ((self.distinct_pitches + 0.5 * self.pitch_range + register) *
            (1.0 - self.polyphony))


def track_stats(ns):
  """Per-instrument statistics of the pitched (non-drum) tracks."""
  by_instrument = {}
  for n in ns.notes:
    if not n.is_drum:
      by_instrument.setdefault(n.instrument, []).append(n)
  stats = []
  for instrument, notes in sorted(by_instrument.items()):
    notes.sort(key=lambda n: (n.start_time, -n.pitch))
    pitches = [n.pitch for n in notes]
    latest_end = np.maximum.accumulate([n.end_time for n in notes])
    overlapping = sum(n.start_time < end - 1e-6
                      for n, end in zip(notes[1:], latest_end))
    stats.append(TrackStats(
        instrument=instrument, program=notes[0].program,
        num_notes=len(notes), distinct_pitches=len(set(pitches)),
        pitch_range=max(pitches) - min(pitches),
        mean_pitch=float(np.mean(pitches)),
        polyphony=overlapping / len(notes)))
  return stats


def choose_melody_instrument(ns, instrument=None, program=None):
  """The melody's instrument number (or None), unless `instrument` or `program`
  names one; raises midi_io.InputError when that is not there."""
  stats = track_stats(ns)
  if instrument is not None:
    if instrument not in [s.instrument for s in stats]:
      raise midi_io.InputError(
          f'{ns.filename or "The input"} has no pitched instrument '
          f'{instrument}; it has {[s.instrument for s in stats]}.')
    return instrument
  if program is not None:
    for s in stats:
      if s.program == program:
        return s.instrument
    raise midi_io.InputError(
        f'{ns.filename or "The input"} has no track with program {program}; '
        f'it has {sorted({s.program for s in stats})}.')
  best = max(stats, key=lambda s: (s.melody_score, s.mean_pitch), default=None)
  return best and best.instrument


@dataclasses.dataclass(frozen=True)
class TrioTracks:
  """A trio's tracks (instrument numbers) and why; `drums` None: all drums."""
  melody: int
  bass: int
  drums: int | None
  why: str

  def describe(self):
    drums = ('all drums' if self.drums is None else
             f'drums from instrument {self.drums}')
    return (f'melody from instrument {self.melody}, bass from instrument '
            f'{self.bass}, {drums}; {self.why}')


_BASS_PROGRAMS = range(32, 40)  # General MIDI's basses.


def choose_trio_tracks(ns, melody=None, bass=None, drums=None):
  """The `TrioTracks` of any multi-track song (None: no two pitched tracks).

  Drums are the channel-10 notes, the bass a GM bass program or else the lowest
  mostly-monophonic track, the melody the likeliest of the rest; a track given
  that is not there raises midi_io.InputError.
  """
  stats = {s.instrument: s for s in track_stats(ns)}
  name = ns.filename or 'The input'
  for flag, value in (('melody_track', melody), ('bass_track', bass)):
    if value is not None and value not in stats:
      raise midi_io.InputError(f'{name} has no pitched instrument {value} '
                               f'for --{flag}; it has {sorted(stats)}.')
  if drums is not None and drums not in {n.instrument for n in ns.notes}:
    raise midi_io.InputError(
        f'{name} has no instrument {drums} for --drum_track.')
  why = []
  if bass is None:
    candidates = [s for s in stats.values() if s.instrument != melody]
    basses = [s for s in candidates if s.program in _BASS_PROGRAMS]
    if basses:
      bass = min(basses, key=lambda s: s.mean_pitch).instrument
      why.append(f'bass by its program ({stats[bass].program})')
    elif candidates:
      bass = min(candidates, key=lambda s: s.mean_pitch + 48 * s.polyphony
                 ).instrument
      why.append('bass as the lowest single-line track')
  if melody is None:
    candidates = [s for s in stats.values() if s.instrument != bass]
    if candidates:
      melody = max(candidates, key=lambda s: (s.melody_score, s.mean_pitch)
                   ).instrument
      why.append('melody as the likeliest tune of the rest')
  if melody is None or bass is None:
    return None
  return TrioTracks(melody, bass, drums, ', '.join(why) or 'as given')


def model_notes(ns, kind, low, high, instrument=None, program=None,
                trio_tracks=None):
  """(notes, melody's instrument, `TrioTracks`, {part: program}, notes dropped
  outside `low`-`high`): what a `kind` model plays of `ns` (changed in place),
  on MusicVAE's programs; raises midi_io.InputError for a track not there."""
  chosen = trio = None
  if kind == 'drums':
    return [n for n in ns.notes if n.is_drum], None, None, None, 0
  if kind == 'melody':
    chosen = choose_melody_instrument(ns, instrument, program)
    tracks = {'melody': chosen}
  else:
    trio = choose_trio_tracks(ns, **(trio_tracks or {}))
    if trio is None:  # No two pitched tracks: no trio to cut.
      return [], None, None, None, 0
    tracks = {'melody': trio.melody, 'bass': trio.bass}
  programs = {part: program_of(ns, i) for part, i in tracks.items()}
  part_of = {i: part for part, i in reversed(tracks.items())}  # Melody wins.
  kept, out_of_range = [], 0
  for n in ns.notes:
    if trio and (n.instrument == trio.drums or
                 trio.drums is None and n.is_drum):
      n.is_drum = True
    elif n.is_drum or n.instrument not in part_of:
      continue
    elif not low <= n.pitch <= high:
      out_of_range += 1
      continue
    else:
      n.program = MUSIC_VAE_PROGRAMS[part_of[n.instrument]]
    kept.append(n)
  return kept, chosen, trio, programs, out_of_range


def program_of(ns, instrument):
  """The program most of a pitched track's notes are played on."""
  programs = collections.Counter(n.program for n in ns.notes
                                 if n.instrument == instrument and not n.is_drum)
  return programs.most_common(1)[0][0] if programs else 0


@dataclasses.dataclass(frozen=True)
class Voicing:
  """The tempo and programs outputs are written in; `Voicing()` is MusicVAE's."""
  qpm: float = windows_lib.QPM
  melody_program: int = MUSIC_VAE_PROGRAMS['melody']
  bass_program: int = MUSIC_VAE_PROGRAMS['bass']

  def __post_init__(self):
    """Clamps to what a MIDI file holds; raises ValueError for what is no tempo
    or program."""
    if not (isinstance(self.qpm, (int, float)) and math.isfinite(self.qpm) and
            self.qpm > 0):
      raise ValueError(f'a tempo of {self.qpm!r} qpm')
    object.__setattr__(self, 'qpm',
                       min(max(float(self.qpm), MIN_QPM), midi_io.MAX_QPM))
    for field in ('melody_program', 'bass_program'):
      program = getattr(self, field)
      if not isinstance(program, int) or isinstance(program, bool):
        raise ValueError(f'a MIDI program of {program!r}')
      object.__setattr__(self, field, min(max(program, 0), 127))

  def apply(self, ns):
    """A copy of a sequence decoded by MusicVAE in this voicing (`ns` itself for
    MusicVAE's own); a trio's bass is instrument 1."""
    if self == Voicing():
      return ns
    ns = copy.deepcopy(ns)
    if not ns.tempos:
      ns.tempos.add(time=0.0, qpm=windows_lib.QPM)
    note_seq.sequences_lib.stretch_note_sequence(ns, windows_lib.QPM / self.qpm,
                                                 in_place=True)
    for n in ns.notes:
      if not n.is_drum:
        n.program = self.bass_program if n.instrument == 1 else (
            self.melody_program)
    return ns

  def describe(self, trio=False):
    bass = f', bass on program {self.bass_program}' if trio else ''
    return f'{self.qpm:g} qpm, melody on program {self.melody_program}{bass}'

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values):
    """A Voicing from `to_dict`'s output (None: MusicVAE's); raises ValueError."""
    if values is None:
      return cls()
    if not isinstance(values, dict) or set(values) - set(cls().to_dict()):
      raise ValueError(f'a voicing of {values!r}')
    return cls(**values)


def voicing_of(chunked):
  """The voicing of `ChunkedInput`s: their chunks' median tempo and the programs
  most chunks came from."""
  if not any(c.num_chunks for c in chunked):
    return Voicing()
  qpm = float(np.median(np.repeat([c.qpm for c in chunked],
                                  [c.num_chunks for c in chunked])))
  programs = {}
  for part, default in MUSIC_VAE_PROGRAMS.items():
    votes = collections.Counter()
    for c in chunked:
      if part in (c.programs or {}):
        votes[c.programs[part]] += c.num_chunks
    programs[f'{part}_program'] = max(votes, key=votes.get, default=default)
  return Voicing(round(qpm, 3), **programs)


def track_menu(tune):
  """[(label, instrument)] of a tune's pitched tracks, and of its drums."""
  pitched = [(f'{s.instrument}: program {s.program}, {s.num_notes} notes',
              s.instrument) for s in track_stats(tune)]
  drums = sorted({n.instrument for n in tune.notes if n.is_drum})
  return pitched, [('all drums', -1)] + [(f'{i}: drums', i) for i in drums]


def tracks_for(kind, tune):
  """The tracks a model of `kind` takes from `tune` (as `instrument=` or
  `trio_tracks=`); {} when it finds none."""
  if kind == 'melody':
    return {'instrument': choose_melody_instrument(tune)}
  trio = choose_trio_tracks(tune) if kind == 'trio' else None
  return {'trio_tracks': {'melody': trio.melody, 'bass': trio.bass,
                          'drums': trio.drums}} if trio else {}
