"""Does MidiMe sound like the input, and plain MusicVAE not? MidiMe and prior
samples against the input's chunks; lower is closer (docs/evaluation.md)."""

import os

import numpy as np

from midime_magenta import chunking_lib
from midime_magenta import file_util
from midime_magenta import novelty_lib
from midime_magenta import plots_lib
from midime_magenta import windows_lib

MEASURES = ('latent_nn', 'pitch_classes', 'intervals', 'onsets',
            'note_density', 'pitch_range')


def _histogram(values, bins, low):
  counts = np.bincount(np.asarray(values, int) - low, minlength=bins)[:bins]
  total = counts.sum()
  return counts / total if total else None


def note_statistics(sequences, chunk_bars):
  """Histograms and means that describe a group of chunks."""
  melodies = [[n.pitch for n in sorted(ns.notes, key=lambda n: (
      n.start_time, -n.pitch)) if not n.is_drum] for ns in sequences]
  pitches = [p for melody in melodies for p in melody]
  intervals = [i for melody in melodies
               for i in np.clip(np.diff(melody), -12, 12)]
  onsets = [windows_lib.onset_step(n) % 16 for ns in sequences
            for n in ns.notes]
  ranges = [max(melody) - min(melody) for melody in melodies if melody]
  return {
      'pitch_classes': _histogram([p % 12 for p in pitches], 12, 0),
      'intervals': _histogram(intervals, 25, -12),
      'onsets': _histogram(onsets, 16, 0),
      'note_density': (float(np.mean([len(ns.notes) / chunk_bars
                                      for ns in sequences]))
                       if sequences else float('nan')),
      'pitch_range': float(np.mean(ranges)) if ranges else float('nan'),
  }


def compare_to_input(sample_stats, input_stats):
  out = {}
  for name in ('pitch_classes', 'intervals', 'onsets'):
    p, q = sample_stats[name], input_stats[name]
    out[name] = float('nan') if p is None or q is None else float(
        1.0 - np.minimum(p, q).sum())
  for name in ('note_density', 'pitch_range'):
    out[name] = float(abs(sample_stats[name] - input_stats[name]))
  return out


def mean_nearest_distance(points, reference):
  if not len(points):  # pylint: disable=g-explicit-length-test
    return float('nan')
  d = np.linalg.norm(points[:, None, :] - reference[None, :, :], axis=-1)
  return float(d.min(axis=1).mean())


def evaluate(personalizer, inputs, num_samples=None, temperature=0.5,
             seed=0, variation=1.0):
  """Compares MidiMe and prior samples with the inputs; returns a report.

  Args:
    personalizer: a trained `Personalizer`.
    inputs: what `Personalizer.chunk` takes (the user's MIDI).
    num_samples: samples of each kind; defaults to the number of chunks.
    temperature, seed, variation: for decoding and the draws.

  Returns:
    {'num_chunks', 'num_samples', 'measures': {name: {'midime', 'prior',
    'closer'}}, 'copies': {'midime', 'prior'}, 'reconstruction_f1':
    {'music_vae', 'midime'}, 'sequences': {group: [NoteSequence]}}; the
    sequences are for plotting, not the JSON.
  """
  chunked = personalizer.chunk(inputs, allow_empty=False)
  z_input = personalizer.encode(chunked)
  converter = personalizer.music_vae.config.data_converter
  input_seqs = converter.from_tensors([x for c in chunked for x in c.outputs])
  n = num_samples or len(z_input)
  rng = np.random.default_rng(seed)
  midime = personalizer.midime
  points = midime.sample_points(n, int(rng.integers(2**31)), variation)
  z_prior = personalizer.music_vae.prior_latents(n, rng)
  # Unconstrained: a run's rule constraint would move every group.
  decode = lambda z: personalizer.decode(z, temperature, constrain=False)  # pylint: disable=g-long-lambda
  decode_small = lambda p: decode(midime.decode(p))  # pylint: disable=g-long-lambda
  check = novelty_lib.CopyCheck(input_seqs)
  with_copies = decode_small(points)
  new = novelty_lib.renew(with_copies, points, check, decode_small,
                          novelty_lib.fresh_draws(variation), rng)[0]
  groups = {
      'input': input_seqs,
      'reconstruction (MusicVAE)': decode(z_input),
      'reconstruction (MidiMe)': decode(midime.reconstruct(z_input)),
      'MidiMe samples': new,
      'prior samples': decode(z_prior),
  }
  chunk_bars = personalizer.music_vae.chunk_steps // windows_lib.STEPS_PER_BAR
  input_stats = note_statistics(input_seqs, chunk_bars)
  scores = {}
  for key, label in (('midime', 'MidiMe samples'), ('prior', 'prior samples')):
    scores[key] = compare_to_input(note_statistics(groups[label], chunk_bars),
                                   input_stats)
    reencoded = chunking_lib.encode_chunks(personalizer.music_vae, [
        chunking_lib.chunk_note_sequence(ns, personalizer.music_vae_config)
        for ns in groups[label]])  # Chunks MusicVAE cannot read left out.
    scores[key]['latent_nn'] = mean_nearest_distance(reencoded, z_input)
  measures = {}
  for name in MEASURES:
    m, p = scores['midime'][name], scores['prior'][name]
    closer = ('n/a' if np.isnan(m) or np.isnan(p) else
              'MidiMe' if m < p else 'prior' if p < m else 'tie')
    measures[name] = {'midime': m, 'prior': p, 'closer': closer}
  f1 = lambda key: float(np.mean([  # pylint: disable=g-long-lambda
      novelty_lib.note_f1(a, b) for a, b in zip(input_seqs, groups[key])]))
  return {
      'num_chunks': len(z_input), 'num_samples': n,
      'temperature': temperature, 'variation': variation,
      'measures': measures,
      'copies': {'midime': check.share(new),
                 'midime_allow_copies': check.share(with_copies),
                 'prior': check.share(groups['prior samples'])},
      'reconstruction_f1': {'music_vae': f1('reconstruction (MusicVAE)'),
                            'midime': f1('reconstruction (MidiMe)')},
      'sequences': groups,
  }


def format_table(report):
  """The report as a plain-text table, one measure per line."""
  lines = [f'{report["num_samples"]} MidiMe and {report["num_samples"]} prior '
           f'samples vs {report["num_chunks"]} input chunks '
           '(lower is closer):',
           f'{"measure":16} {"MidiMe":>9} {"prior":>9}  closer']
  for name, row in report['measures'].items():
    lines.append(f'{name:16} {row["midime"]:9.3f} {row["prior"]:9.3f}  '
                 f'{row["closer"]}')
  copies = report['copies']
  lines.append(f'{"copies":16} {copies["midime"]:9.3f} {copies["prior"]:9.3f}  '
               f'(share of samples with note F1 >= {novelty_lib.COPY_F1} to '
               'an input chunk; MidiMe\'s with --allow_copies: '
               f'{copies["midime_allow_copies"]:.3f})')
  f1 = report['reconstruction_f1']
  lines.append(f'reconstruction F1 of the input: MusicVAE {f1["music_vae"]:.3f}'
               f', MusicVAE -> MidiMe -> MusicVAE {f1["midime"]:.3f}')
  return '\n'.join(lines)


def write_report(report, output_dir):
  """Writes evaluation.json and the comparison sheet; returns their paths."""
  file_util.check_writable_dir(output_dir, '--output_dir')
  json_path = file_util.write_json(
      os.path.join(output_dir, 'evaluation.json'),
      {k: v for k, v in report.items() if k != 'sequences'}, replace=False)
  groups = report['sequences']
  sheet = plots_lib.plot_comparison_sheet(
      [(label, groups[label]) for label in (
          'input', 'reconstruction (MidiMe)', 'MidiMe samples',
          'prior samples')],
      os.path.join(output_dir, 'comparison.png'),
      title='input | reconstruction | MidiMe samples | MusicVAE prior samples',
      replace=False)
  return json_path, sheet
