"""MusicVAE's time grid, in one place.

Every MusicVAE cuts and decodes music as 16th-note steps, 4 a quarter note,
in 4/4 bars, and writes what it decodes at 120 qpm.
"""

QPM = 120.0
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER
STEP_SECONDS = 60.0 / QPM / STEPS_PER_QUARTER  # 0.125 s.
BAR_SECONDS = STEPS_PER_BAR * STEP_SECONDS  # 2 s.


def onset_step(note):
  """The step a note starts on, at 120 qpm."""
  return int(round(note.start_time / STEP_SECONDS))


def bar_seconds(ns):
  """Seconds per 4/4 bar of a NoteSequence at its first tempo (120 qpm: 2 s)."""
  qpm = ns.tempos[0].qpm if ns.tempos else QPM
  return BAR_SECONDS * QPM / qpm
