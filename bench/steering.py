"""How new are MidiMe's samples? Copies against closeness, as --variation moves.

  .venv/bin/python bench/steering.py   (a few minutes on 2 cores; ../shared)

For every tune in ../shared/midi/folk and testdata/folk (held-out style
tunes), on the official mel_2bar_small: train MidiMe (the default 100
epochs, seed 0), then for each variation draw 10 samples and measure
  copies     the share of samples that copy one of the tune's own chunks
             (note F1 >= 0.9 on pitch and onset step; novelty_lib)
  closeness  the mean distance of each sample's re-encoded mu to the
             nearest chunk of the tune (latent_nn; lower is closer)
and the same for 10 MusicVAE prior samples. Also: the neighbour note F1 of
a 12-chunk piece at each --step_size.

Attributes: with the prior's attribute vectors, each attribute's mean value
in 10 MidiMe samples per tune (temperature 0.1) at strengths -2..+2.

Rules: for each rule set in RULES, a constraint trained per tune
(`Personalizer.constrain`, seed 0) and measured on 256 fresh MidiMe and
prior draws at temperature 0.5: the share that obeys before and after, the
share of onsets kept, the contour correlation (rules_lib.measure).

  .venv/bin/python bench/steering.py [variation] [attributes] [rules]

Prints the tables; JSON to bench/results/.
"""

import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)
import midime_magenta  # noqa: E402,F401  (sets the TF environment first)
import note_seq  # noqa: E402
import numpy as np  # noqa: E402

from midime_magenta.steering import attributes_lib  # noqa: E402
from midime_magenta import midi_io  # noqa: E402
from midime_magenta import chunking_lib  # noqa: E402
from midime_magenta import evaluate_lib  # noqa: E402
from midime_magenta import novelty_lib  # noqa: E402
from midime_magenta import music_vae_lib  # noqa: E402
from midime_magenta import personalizer as personalizer_lib  # noqa: E402
from midime_testing import testdata_lib  # noqa: E402

VARIATIONS = (0.25, 0.5, 0.75, 1.0, 1.5)
STEP_SIZES = (0.1, 0.3, 0.6, 1.0)
SAMPLES = 10
TEMPERATURE = 0.5
STRENGTHS = (-2, -1, 0, 1, 2)
RULES = (('key:C',), ('density:2-4',), ('pitch:60-72',),
         ('key:C', 'density:2-4'))


def reencode(p, samples):
  """MusicVAE's z of the samples' chunks, as midime_evaluate measures them."""
  return chunking_lib.encode_chunks(p.music_vae, [
      chunking_lib.chunk_note_sequence(ns, p.music_vae_config)
      for ns in samples])

def tunes():
  found = []
  for folder in (testdata_lib.shared_path('midi', 'folk'),
                 testdata_lib.testdata_path('folk')):
    if folder:
      found += midi_io.find_input_files(folder)
  unique = {os.path.basename(p): p for p in found}
  return [unique[k] for k in sorted(unique)]


def neighbour_f1(personalizer, step, seeds=3, chunks=12):
  width = personalizer.music_vae.chunk_seconds
  scores = []
  for seed in range(seeds):
    piece = personalizer.piece(chunks, step, temperature=0.01, seed=seed)
    slots = [note_seq.NoteSequence() for _ in range(chunks)]
    for n in piece.notes:
      k = min(int(n.start_time // width), chunks - 1)
      slots[k].notes.add(pitch=n.pitch, start_time=n.start_time - k * width,
                         end_time=n.end_time - k * width)
    scores += [novelty_lib.note_f1(a, b) for a, b in zip(slots, slots[1:])]
  return float(np.mean(scores))


def main():
  parts = set(sys.argv[1:]) or {'variation', 'attributes', 'rules'}
  ckpt = testdata_lib.official_mel_2bar_small()
  if ckpt is None:
    sys.exit('bench: the official mel_2bar_small in ../shared is needed.')
  vae = music_vae_lib.load_music_vae('cat-mel_2bar_small', ckpt,
                                     batch_size=64)
  rows = {v: {'copies': [], 'closeness': []} for v in VARIATIONS}
  prior = {'copies': [], 'closeness': []}
  steps = {s: [] for s in STEP_SIZES}
  attributes = {n: {k: [] for k in STRENGTHS}
                for n in attributes_lib.ATTRIBUTES}
  rules = {', '.join(r): {'midime': [], 'prior': []} for r in RULES}
  names = []
  vectors = None
  started = time.perf_counter()
  for path in tunes():
    p = personalizer_lib.Personalizer('cat-mel_2bar_small', music_vae=vae)
    chunked = p.chunk([path])
    if not sum(c.num_chunks for c in chunked):
      continue
    names.append(os.path.basename(path))
    p.train([path], seed=0, progress=False)
    z_input = p.training_data.z
    if 'variation' in parts:
      for v in VARIATIONS:
        samples = p.sample(SAMPLES, TEMPERATURE, seed=1, variation=v,
                           allow_copies=True)  # The trade-off itself.
        rows[v]['copies'].append(p.copy_check().share(samples))
        rows[v]['closeness'].append(evaluate_lib.mean_nearest_distance(
            reencode(p, samples), z_input))
      samples = p.sample_prior(SAMPLES, TEMPERATURE, seed=1)
      prior['copies'].append(p.copy_check().share(samples))
      prior['closeness'].append(evaluate_lib.mean_nearest_distance(
          reencode(p, samples), z_input))
      for s in STEP_SIZES:
        steps[s].append(neighbour_f1(p, s))
    if 'attributes' in parts:
      p.attributes = vectors = vectors or p.compute_attribute_vectors(seed=0)
      for name in attributes_lib.ATTRIBUTES:
        for k in STRENGTHS:
          samples = p.sample(SAMPLES, 0.1, seed=1, attributes={name: k},
                             allow_copies=True)  # The same draws.
          attributes[name][k] += [attributes_lib.measure(ns, name, 2)
                                  for ns in samples]
    if 'rules' in parts:
      for rule in RULES:
        report = p.constrain(list(rule), seed=0)
        for group in ('midime', 'prior'):
          rules[', '.join(rule)][group].append(report[group])
  mean = lambda xs: float(np.nanmean(xs))  # noqa: E731
  results = {'tunes': names, 'seconds': time.perf_counter() - started}
  lines = [f'{len(names)} tunes']
  if 'variation' in parts:
    results.update({
        'samples_per_tune': SAMPLES, 'temperature': TEMPERATURE,
        'variation': {str(v): {k: mean(r[k]) for k in r}
                      for v, r in rows.items()},
        'prior': {k: mean(prior[k]) for k in prior},
        'piece_neighbour_f1': {str(s): mean(x) for s, x in steps.items()}})
    lines += [f'{SAMPLES} samples each, temperature {TEMPERATURE}; copies = '
              f'share with note F1 >= {novelty_lib.COPY_F1} to a chunk of '
              'the tune; closeness = latent_nn (lower is closer)',
              f'{"":14} {"copies":>7} {"closeness":>10}']
    for v in VARIATIONS:
      r = results['variation'][str(v)]
      lines.append(f'variation {v:<4} {r["copies"]:7.3f} '
                   f'{r["closeness"]:10.2f}')
    lines.append(f'{"prior":14} {results["prior"]["copies"]:7.3f} '
                 f'{results["prior"]["closeness"]:10.2f}')
    lines.append('piece, neighbour note F1 by --step_size: ' + ', '.join(
        f'{s}: {f:.3f}' for s, f in results['piece_neighbour_f1'].items()))
  if 'attributes' in parts:
    results['attributes'] = {n: {str(k): mean(v) for k, v in row.items()}
                             for n, row in attributes.items()}
    results['attribute_vectors'] = {'source': vectors.source,
                                    'count': vectors.count}
    lines += ['', f'attribute value of MidiMe samples (temperature 0.1) by '
              'strength, vectors from 1024 prior draws:',
              f'{"":18}' + ''.join(f'{k:>+8}' for k in STRENGTHS)]
    for n, row in results['attributes'].items():
      lines.append(f'{n:18}' + ''.join(f'{row[str(k)]:8.3f}'
                                       for k in STRENGTHS))
  if 'rules' in parts:
    keys = ('satisfied_before', 'satisfied_after', 'onsets_kept',
            'contour_correlation')
    results['rules'] = {r: {g: {k: mean([m[k] for m in ms]) for k in keys}
                            for g, ms in groups.items()}
                        for r, groups in rules.items()}
    lines += ['', 'rule constraints (per tune, 256 fresh draws each, '
              'temperature 0.5): obey before -> after, onsets kept, contour '
              'correlation',
              f'{"":22} {"MidiMe samples":>30} {"prior samples":>30}']
    for r, groups in results['rules'].items():
      cells = [f'{g["satisfied_before"]:.2f}->{g["satisfied_after"]:.2f} '
               f'{g["onsets_kept"]:6.2f} {g["contour_correlation"]:6.2f}'
               for g in (groups['midime'], groups['prior'])]
      lines.append(f'{r:22} {cells[0]:>30} {cells[1]:>30}')
  os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
  path = os.path.join(ROOT, 'bench', 'results',
                      time.strftime('steering-%Y%m%d-%H%M%S.json'))
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=2)
  print('\n'.join(lines))
  print(f'\nJSON: {path}')


if __name__ == '__main__':
  main()
