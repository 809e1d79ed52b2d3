"""Are MidiMe's samples new, and still the tune's own? Per tune, at defaults.

  .venv/bin/python bench/novelty.py          (under a minute on 2 cores)

Two sets of tunes:
  tuning    O'Neill's Music of Ireland (testdata/reel_4-4.mid, testdata/folk,
            ../shared/midi/folk): the tunes MidiMe's defaults were chosen on;
  held-out  testdata/heldout (bin/make_heldout_tunes): German folk songs,
            Bach chorale melodies, Scottish airs and strathspeys, which no
            default was chosen on.
For each tune, on the official mel_2bar_small with every default (the
demo's chunking, 100 epochs, variation 1, temperature 0.5, seed 0): 10 MidiMe
samples as midime_generate makes them (a copy drawn again), the same 10
draws with --allow_copies, and 10 MusicVAE prior samples. Measured:
  copies     share of samples whose notes match one of the tune's chunks
             with F1 >= 0.9 (novelty_lib)
  closeness  latent_nn: each sample re-encoded by MusicVAE, its distance to
             the nearest chunk of the tune (lower is closer); MidiMe's must
             stay well below the prior's.

Prints one row per tune and a summary per set; JSON to bench/results/.
"""

import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)
import midime_magenta  # noqa: E402,F401  (sets the TF environment first)
import numpy as np  # noqa: E402

from midime_magenta import chunking_lib  # noqa: E402
from midime_magenta import evaluate_lib  # noqa: E402
from midime_magenta import midi_io  # noqa: E402
from midime_magenta import music_vae_lib  # noqa: E402
from midime_magenta import novelty_lib  # noqa: E402
from midime_magenta import personalizer as personalizer_lib  # noqa: E402
from midime_testing import testdata_lib  # noqa: E402

SAMPLES = 10
TEMPERATURE = 0.5


def reencode(p, samples):
  """MusicVAE's z of the samples' chunks, as midime_evaluate measures them."""
  return chunking_lib.encode_chunks(p.music_vae, [
      chunking_lib.chunk_note_sequence(ns, p.music_vae_config)
      for ns in samples])

def tune_sets():
  tuning = [testdata_lib.testdata_path('reel_4-4.mid')]
  for folder in (testdata_lib.testdata_path('folk'),
                 testdata_lib.shared_path('midi', 'folk')):
    if folder:
      tuning += midi_io.find_input_files(folder)
  unique = {os.path.basename(p): p for p in tuning}
  return {'tuning': [unique[k] for k in sorted(unique)],
          'held-out': midi_io.find_input_files(
              testdata_lib.testdata_path('heldout'))}


def measure(p, path):
  check = p.copy_check()
  z_input = p.training_data.z
  closeness = lambda samples: evaluate_lib.mean_nearest_distance(  # noqa: E731
      reencode(p, samples), z_input)
  new = p.sample(SAMPLES, TEMPERATURE, seed=1)
  raw = p.sample(SAMPLES, TEMPERATURE, seed=1, allow_copies=True)
  prior = p.sample_prior(SAMPLES, TEMPERATURE, seed=1)
  return {'tune': os.path.basename(path), 'chunks': len(z_input),
          'copies': check.share(new), 'copies_allowed': check.share(raw),
          'copies_prior': check.share(prior),
          'closeness': closeness(new), 'closeness_prior': closeness(prior)}


def main():
  ckpt = testdata_lib.official_mel_2bar_small()
  if ckpt is None:
    sys.exit('bench: the official mel_2bar_small in ../shared is needed.')
  vae = music_vae_lib.load_music_vae('cat-mel_2bar_small', ckpt,
                                     batch_size=64)
  started = time.perf_counter()
  results, lines = {}, []
  header = (f'{"tune":44} {"chunks":>6} {"copies":>7} {"allowed":>8} '
            f'{"prior":>6} {"close":>6} {"prior":>6}')
  for name, paths in tune_sets().items():
    rows = []
    lines += ['', f'{name} ({len(paths)} tunes): copies = share of '
              f'{SAMPLES} samples with note F1 >= {novelty_lib.COPY_F1} to '
              'a chunk of the tune (default, --allow_copies, prior); close = '
              'latent_nn (MidiMe, prior; lower is closer)', header]
    for path in paths:
      p = personalizer_lib.Personalizer('cat-mel_2bar_small', music_vae=vae)
      p.train([path], seed=0, progress=False)
      row = measure(p, path)
      rows.append(row)
      lines.append(f'{row["tune"][:44]:44} {row["chunks"]:6d} '
                   f'{row["copies"]:7.2f} {row["copies_allowed"]:8.2f} '
                   f'{row["copies_prior"]:6.2f} {row["closeness"]:6.2f} '
                   f'{row["closeness_prior"]:6.2f}')
      print(lines[-1], flush=True)
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in rows[0] if k not in ('tune', 'chunks')}
    closer = sum(r['closeness'] < r['closeness_prior'] for r in rows)
    lines.append(f'{"mean":44} {"":6} {mean["copies"]:7.3f} '
                 f'{mean["copies_allowed"]:8.3f} {mean["copies_prior"]:6.3f} '
                 f'{mean["closeness"]:6.2f} {mean["closeness_prior"]:6.2f}')
    lines.append(f'MidiMe nearer the tune than the prior on {closer} of '
                 f'{len(rows)} tunes.')
    results[name] = {'tunes': rows, 'mean': mean, 'closer': closer}
  results['seconds'] = time.perf_counter() - started
  results['samples_per_tune'] = SAMPLES
  os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
  path = os.path.join(ROOT, 'bench', 'results',
                      time.strftime('novelty-%Y%m%d-%H%M%S.json'))
  with open(path, 'w') as f:
    json.dump(results, f, indent=1)
  print('\n'.join(lines))
  print(f'\n{results["seconds"]:.0f} s; JSON in {path}')


if __name__ == '__main__':
  main()
