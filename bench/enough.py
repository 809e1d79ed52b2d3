"""How much music is enough to personalize? MidiMe trained on 1, 2, 4 ... 32
chunks of the held-out tunes (testdata/heldout: no default was chosen on them).

  .venv/bin/python bench/enough.py          (a few minutes on 2 cores)

For each size, six sets of consecutive chunks (from different tunes, taken
round the pool), on the official mel_2bar_small at every default (100 epochs,
seed 0), 20 draws with copies allowed (as the raw model gives them):
  copies    share of draws whose notes match a trained chunk (note F1 >= 0.9)
  distinct  share of draws unlike every other draw (note F1 < 0.9)
The studio's 'too little music' figure is the smallest size where copies fall
and distinct draws rise to where more music no longer changes them.
"""

import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)
import midime_magenta  # noqa: E402,F401  (sets the TF environment first)
import numpy as np  # noqa: E402

from midime_magenta import midi_io  # noqa: E402
from midime_magenta import music_vae_lib  # noqa: E402
from midime_magenta import novelty_lib  # noqa: E402
from midime_magenta import personalizer as personalizer_lib  # noqa: E402
from midime_testing import testdata_lib  # noqa: E402

SIZES = (1, 2, 4, 8, 16, 32, 64)
SETS = 6
DRAWS = 20


def distinct(samples):
  notes = [novelty_lib.onset_notes(s) for s in samples]
  return np.mean([all(novelty_lib.f1(a, b) < novelty_lib.COPY_F1
                      for j, b in enumerate(notes) if j != i)
                  for i, a in enumerate(notes)])


def main():
  vae = music_vae_lib.load_music_vae(
      'cat-mel_2bar_small', testdata_lib.official_mel_2bar_small(),
      batch_size=64)
  p = personalizer_lib.Personalizer('cat-mel_2bar_small', music_vae=vae)
  tunes = midi_io.find_input_files(testdata_lib.testdata_path('heldout'))
  per_tune = [c for c in (p.chunk(t) for t in tunes) if c[0].num_chunks]
  pool = [(t, i) for t, c in enumerate(per_tune) for i in range(
      c[0].num_chunks)]
  z = np.concatenate([p.encode(c) for c in per_tune])
  chunks = np.concatenate([np.stack(c[0].outputs) for c in per_tune])
  started, rows = time.perf_counter(), []
  for size in SIZES:
    for s in range(SETS):
      first = (s * len(pool)) // SETS
      pick = [(first + k) % len(pool) for k in range(size)]
      p.train(z=z[pick], seed=0, progress=False)
      check = novelty_lib.check_for(vae.config.data_converter, chunks[pick])
      draws = p.sample(DRAWS, seed=1, allow_copies=True)
      rows.append({'chunks': size, 'set': s, 'copies': check.share(draws),
                   'distinct': float(distinct(draws))})
      print(rows[-1], flush=True)
  lines = [f'{"chunks":>6} {"copies":>7} {"distinct":>9}']
  for size in SIZES:
    of = [r for r in rows if r['chunks'] == size]
    lines.append(f'{size:6d} {np.mean([r["copies"] for r in of]):7.2f} '
                 f'{np.mean([r["distinct"] for r in of]):9.2f}')
  seconds = time.perf_counter() - started
  os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
  path = os.path.join(ROOT, 'bench', 'results',
                      time.strftime('enough-%Y%m%d-%H%M%S.json'))
  with open(path, 'w') as f:
    json.dump({'rows': rows, 'pool_chunks': len(pool), 'tunes': len(tunes),
               'seconds': seconds}, f, indent=1)
  print('\n'.join(lines))
  print(f'{len(tunes)} tunes, {len(pool)} chunks in the pool; {seconds:.0f} '
        f's; JSON in {path}')


if __name__ == '__main__':
  main()
