"""Magenta.js MusicVAE checkpoints for tests, in the official layout.

Real weights cannot be downloaded here, so tests build each family's
checkpoint: `config.json` as Magenta.js writes it, `weights_manifest.json`
with the names the magenta-js loader (`music/src/music_vae/model.ts`) reads
and the shapes below, random weights, little-endian, split into 4 MiB
`group1-shard<i>of<n>` files, and quantized as the release is (`_q2`:
2 bytes, `trio_4bar`: 1 byte) with tensorflowjs's affine scheme
(`q = round((w - min) / scale)`, read back as `q * scale + min`).

The names are written from the loader contract, not from magenta's Python
graph, so a test that loads them checks our reading of that contract.

Shapes: mel_2bar_small's are the released manifest's (../shared);
trio_4bar's and drums_2bar_nade_9_q2's give exactly the catalogue sizes
(17.6 MB at 1 byte, 27.6 MB at 2 bytes). The other families' sizes are
inferred from their descriptions and need not be the release's; the loader
reads every size from the manifest, so the same code takes the real ones.
"""

import json
import os

import numpy as np

SHARD_BYTES = 4 << 20
MELODY_DEPTH = 90  # Pitches 21-108, no-event, note-off.
DRUM_CLASSES = 9

# family: converter type, its args, encoder width, decoder widths, z, NADE
# hidden size, quantization bytes (None: float32).
FAMILIES = {
    'mel_2bar_small': ('MelodyConverter', {'numSteps': 32}, 512, [256, 256],
                       256, None, None),
    'mel_4bar_small_q2': ('MelodyConverter', {'numSteps': 64}, 512,
                          [256, 256], 256, None, 2),
    'mel_4bar_med_q2': ('MelodyConverter', {'numSteps': 64}, 1024,
                        [512, 512], 512, None, 2),
    'mel_4bar_med_lokl_q2': ('MelodyConverter', {'numSteps': 64}, 1024,
                             [512, 512], 512, None, 2),
    'mel_16bar_small_q2': ('MelodyConverter', {'numSteps': 256,
                                               'numSegments': 16}, 512,
                           [256, 256], 256, None, 2),
    'trio_4bar': ('TrioConverter', {'numSteps': 64, 'numSegments': 4}, 512,
                  [256, 256], 256, None, 1),
    'drums_2bar_lokl_small': ('DrumsConverter', {'numSteps': 32}, 512,
                              [256, 256], 256, None, None),
    'drums_2bar_hikl_small': ('DrumsConverter', {'numSteps': 32}, 512,
                              [256, 256], 256, None, None),
    'drums_2bar_nade_9_q2': ('DrumRollConverter', {'numSteps': 32}, 1024,
                             [512, 512], 256, 128, 2),
    'drums_4bar_med_q2': ('DrumsConverter', {'numSteps': 64}, 1024,
                          [512, 512], 512, None, 2),
    'drums_4bar_med_lokl_q2': ('DrumsConverter', {'numSteps': 64}, 1024,
                               [512, 512], 512, None, 2),
}


def _spec(converter, args):
  args = dict(args)
  melody = {'minPitch': 21, 'maxPitch': 108}
  if converter == 'MelodyConverter':
    args.update(melody)
  elif converter == 'TrioConverter':
    args.update(melArgs=dict(melody), bassArgs=dict(melody),
                drumsArgs={})
  return {'type': 'MusicVAE',
          'dataConverter': {'type': converter, 'args': args}}


def _lstm(weights, prefix, inputs, units):
  weights[prefix + 'kernel'] = [inputs + units, 4 * units]
  weights[prefix + 'bias'] = [4 * units]


def family_shapes(family):
  """{name: shape} of a family's checkpoint, as the magenta-js loader reads it."""
  converter, args, enc, dec, z, nade, _ = FAMILIES[family]
  segments = args.get('numSegments')
  if converter == 'TrioConverter':
    depths = [MELODY_DEPTH, MELODY_DEPTH, 2 ** DRUM_CLASSES]
  elif converter == 'MelodyConverter':
    depths = [MELODY_DEPTH]
  elif converter == 'DrumRollConverter':
    depths = [DRUM_CLASSES]
  else:
    depths = [2 ** DRUM_CLASSES]
  input_depth = (sum(depths) if converter != 'DrumsConverter' and
                 converter != 'DrumRollConverter' else DRUM_CLASSES + 1)
  w = {}
  bidi = 'bidirectional_rnn/%s/multi_rnn_cell/cell_0/lstm_cell/'
  for direction in ('fw', 'bw'):
    if segments:
      _lstm(w, 'encoder/hierarchical_level_0/cell_0/' + bidi % direction,
            input_depth, enc)
      _lstm(w, 'encoder/hierarchical_level_1/cell_0/' + bidi % direction,
            2 * enc, enc)
    else:
      _lstm(w, 'encoder/cell_0/' + bidi % direction, input_depth, enc)
  for layer in ('mu', 'sigma'):
    w[f'encoder/{layer}/kernel'] = [2 * enc, z]
    w[f'encoder/{layer}/bias'] = [z]
  core_z = z
  if segments:
    conductor = 'decoder/hierarchical_level_0/'
    w[conductor + 'initial_state/kernel'] = [z, 2 * sum(dec)]
    w[conductor + 'initial_state/bias'] = [2 * sum(dec)]
    inputs = 1  # model.ts feeds the conductor a single zero.
    for i, units in enumerate(dec):
      _lstm(w, f'{conductor}cell_{i}/lstm_cell/', inputs, units)
      inputs = units
    core_z = dec[-1]
  prefix = 'core_decoder/' if segments else ''
  prefixes = ([f'{prefix}core_decoder_{i}/decoder/' for i in range(3)]
              if converter == 'TrioConverter' else [f'{prefix}decoder/'])
  for p, depth in zip(prefixes, depths):
    inputs = depth + core_z
    for i, units in enumerate(dec):
      _lstm(w, f'{p}multi_rnn_cell/cell_{i}/lstm_cell/', inputs, units)
      inputs = units
    w[p + 'z_to_initial_state/kernel'] = [core_z, 2 * sum(dec)]
    w[p + 'z_to_initial_state/bias'] = [2 * sum(dec)]
    projection = depth + (nade or 0)
    w[p + 'output_projection/kernel'] = [dec[-1], projection]
    w[p + 'output_projection/bias'] = [projection]
    if nade:
      w[p + 'nade/w_enc'] = [depth, 1, nade]
      w[p + 'nade/w_dec_t'] = [depth, nade, 1]
  return w


def quantize(values, num_bytes):
  """tensorflowjs's affine quantization: (codes, {'min', 'scale', 'dtype'})."""
  dtype = np.uint8 if num_bytes == 1 else np.uint16
  low, high = float(values.min()), float(values.max())
  scale = (high - low) / np.iinfo(dtype).max if high > low else 1.0
  codes = np.round((values - low) / scale).astype(dtype)
  return codes, {'dtype': np.dtype(dtype).name, 'min': low, 'scale': scale}


def dequantize(codes, quantization):
  """The values a quantized weight stands for, as the loader must compute them."""
  return codes.astype(np.float32) * np.float32(quantization['scale']) + (
      np.float32(quantization['min']))


def make_checkpoint(folder, family, seed=0, drop_sigma=False):
  """Writes a family's Magenta.js checkpoint into `folder`.

  Returns:
    {name: float32 array}: the values the loader must read back (the
    dequantized ones where the family is quantized).
  """
  converter, args, _, _, _, _, num_bytes = FAMILIES[family]
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  entries, data, expected = [], [], {}
  for name, shape in family_shapes(family).items():
    if drop_sigma and name.startswith('encoder/sigma/'):
      continue
    values = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    entry = {'name': name, 'shape': list(shape), 'dtype': 'float32'}
    if num_bytes:
      codes, entry['quantization'] = quantize(values, num_bytes)
      values = dequantize(codes, entry['quantization'])
      data.append(codes.astype(codes.dtype.newbyteorder('<')).tobytes())
    else:
      data.append(values.astype('<f4').tobytes())
    expected[name] = values
    entries.append(entry)
  blob = b''.join(data)
  count = max(1, -(-len(blob) // SHARD_BYTES))
  paths = [f'group1-shard{i + 1}of{count}' for i in range(count)]
  for i, path in enumerate(paths):
    with open(os.path.join(folder, path), 'wb') as f:
      f.write(blob[i * SHARD_BYTES:(i + 1) * SHARD_BYTES])
  with open(os.path.join(folder, 'weights_manifest.json'), 'w',
            encoding='utf-8') as f:
    json.dump([{'paths': paths, 'weights': entries}], f)
  with open(os.path.join(folder, 'config.json'), 'w', encoding='utf-8') as f:
    json.dump(_spec(converter, args), f, indent=2)
  return expected
