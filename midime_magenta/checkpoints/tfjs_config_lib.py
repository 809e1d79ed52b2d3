"""The Python MusicVAE config of a Magenta.js checkpoint: the converter from
config.json, the architecture from the manifest's shapes (as magenta-js
`model.ts` reads them), composed of magenta's own classes."""

import os

from midime_magenta import file_util
from midime_magenta import windows_lib
from midime_magenta.checkpoints import tfjs_checkpoint_lib

CONFIG_JSON = 'config.json'
_MAX_CONFIG_BYTES = 1 << 16

_CONTROL_ONLY = 'it models a control signal (rhythm or contour), not music'
# Converters of checkpoints MidiMe cannot personalize, and why.
UNSUPPORTED_CONVERTERS = {
    'MultitrackConverter': 'magenta 2.1.4 has no multitrack converter that '
                           'matches Magenta.js; use trio_4bar',
    'GrooveConverter': 'GrooVAE models humanize a drum pattern, they do not '
                       'sample music from a latent space',
    'MelodyRhythmConverter': _CONTROL_ONLY,
    'MelodyShapeConverter': _CONTROL_ONLY, 'TrioRhythmConverter': _CONTROL_ONLY,
}
# Converters MidiMe personalizes, as listings name them.
KINDS = {'MelodyConverter': 'melody', 'DrumsConverter': 'drums',
         'DrumRollConverter': 'drums (NADE)', 'TrioConverter': 'trio'}
CHORD_CONDITIONED = ('it is chord-conditioned: each encode and decode needs '
                     'chords, which MidiMe samples do not have')
_Error = tfjs_checkpoint_lib.TfjsCheckpointError


class UnsupportedCheckpointError(_Error):
  """A Magenta.js checkpoint of a kind MidiMe does not personalize."""


def read_spec(folder):
  """config.json, checked: a MusicVAE spec with a converter MidiMe supports
  (else TfjsCheckpointError, or UnsupportedCheckpointError saying why)."""
  path = os.path.join(folder, CONFIG_JSON)
  try:
    spec = file_util.read_json(path, _MAX_CONFIG_BYTES, 'a config')
    if not isinstance(spec, dict) or spec.get('type') != 'MusicVAE':
      raise ValueError('not a MusicVAE spec (its "type" is not "MusicVAE")')
    converter = spec.get('dataConverter')
    if not isinstance(converter, dict) or not isinstance(
        converter.get('type'), str) or not isinstance(
            converter.get('args', {}), dict):
      raise ValueError('no "dataConverter" with a "type" and "args"')
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    raise _Error(f'{path} is not a usable Magenta.js config ({e}); fetch the '
                 'checkpoint again.') from None
  name = os.path.basename(os.path.normpath(folder))
  kind = converter['type']
  if kind in UNSUPPORTED_CONVERTERS:
    raise UnsupportedCheckpointError(
        f'Checkpoint {name} ({kind}) is not supported: '
        f'{UNSUPPORTED_CONVERTERS[kind]}.')
  if spec.get('chordEncoder'):
    raise UnsupportedCheckpointError(
        f'Checkpoint {name} is not supported: {CHORD_CONDITIONED}.')
  if kind not in KINDS:
    raise UnsupportedCheckpointError(
        f'Checkpoint {name} has a {kind}, which this version does not know; '
        'supported: melody, drum and trio MusicVAEs.')
  return spec


def _int_arg(args, key, low, high, default=None):
  value = args.get(key, default)
  if value is not None and (isinstance(value, bool) or not isinstance(
      value, int) or not low <= value <= high):
    raise _Error(f'config.json: dataConverter.args.{key} is {value!r}, not an '
                 f'integer in [{low}, {high}].')
  return value


def _widths(shapes, cell_format):
  """Widths of the stacked LSTM cells `cell_format % i`, as model.ts reads
  them: each from its bias (4 gates)."""
  widths = []
  while (bias := shapes.get(cell_format % len(widths) + 'bias')) and (
      bias[0] and bias[0] % 4 == 0):
    widths.append(bias[0] // 4)
  return tuple(widths)


def music_vae_config(folder):
  """(magenta's `Config`, a line for logs, whether a trio) of a Magenta.js
  checkpoint, composed as magenta's hierdec configs compose theirs.

  Raises:
    TfjsCheckpointError: saying what is missing, for files that describe no
      supported MusicVAE (UnsupportedCheckpointError: one MidiMe cannot use).
  """
  spec = read_spec(folder)
  manifest = tfjs_checkpoint_lib.read_manifest(folder)
  shapes = {w['name']: w['shape'] for g in manifest for w in g['weights']}
  kind = spec['dataConverter']['type']
  args = spec['dataConverter'].get('args', {})
  num_steps = _int_arg(args, 'numSteps', windows_lib.STEPS_PER_BAR, 4096)
  num_segments = _int_arg(args, 'numSegments', 1, 256)
  if num_steps is None or num_steps % windows_lib.STEPS_PER_BAR:
    raise _Error(f'config.json: numSteps {num_steps} is not a whole number of '
                 '4/4 bars at 4 steps per quarter.')
  if num_segments and num_steps % num_segments:
    raise _Error(f'config.json: numSteps {num_steps} is not divisible by '
                 f'numSegments {num_segments}.')
  melody_args = args.get('melArgs', args) if kind == 'TrioConverter' else args
  if not isinstance(melody_args, dict):
    raise _Error('config.json: dataConverter.args.melArgs is not an object.')
  min_pitch = _int_arg(melody_args, 'minPitch', 0, 127, 21)
  max_pitch = _int_arg(melody_args, 'maxPitch', min_pitch, 127, 108)

  def missing(what):
    return _Error(
        f'{os.path.join(folder, tfjs_checkpoint_lib.MANIFEST)} has no {what}, '
        'which a Magenta.js MusicVAE of this kind has; fetch it again.')

  if 'encoder/mu/bias' not in shapes:
    raise missing('encoder/mu')
  bidi = 'bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/'
  if num_segments:
    enc = {_widths(shapes, f'encoder/hierarchical_level_{i}/cell_%d/{bidi}')[:1]
           for i in range(2)}
    if len(enc) != 1 or () in enc:
      raise missing('two hierarchical encoder levels of one width')
    enc = enc.pop()
    conductor = _widths(shapes, 'decoder/hierarchical_level_0/cell_%d/'
                        'lstm_cell/')
    if not conductor:
      raise missing('conductor LSTM (decoder/hierarchical_level_0)')
    prefix = 'core_decoder/'
  else:
    enc, conductor, prefix = _widths(shapes, f'encoder/cell_%d/{bidi}'), (), ''
  if not enc:
    raise missing('bidirectional LSTM encoder')
  prefixes = ([f'{prefix}core_decoder_{i}/decoder/' for i in range(3)]
              if kind == 'TrioConverter' else [f'{prefix}decoder/'])
  dec_sizes, depths, nade_hidden = set(), [], None
  for p in prefixes:
    sizes = _widths(shapes, p + 'multi_rnn_cell/cell_%d/lstm_cell/')
    projection = shapes.get(p + 'output_projection/bias')
    if not sizes or not projection:
      raise missing(f'decoder at {p}')
    dec_sizes.add(sizes)
    nade = shapes.get(p + 'nade/w_enc')
    if nade is not None and len(nade) != 3:
      raise missing(f'NADE weights of rank 3 at {p}nade/w_enc')
    nade_hidden = nade[-1] if nade else nade_hidden
    depths.append(nade[0] if nade else projection[0])
  if len(dec_sizes) != 1:
    raise missing('core decoders of one width')
  if kind == 'DrumRollConverter' and nade_hidden is None:
    raise missing('NADE (decoder/nade/w_enc) for its drum-roll output')
  dec = list(dec_sizes.pop())
  if conductor and list(conductor) != dec:
    raise UnsupportedCheckpointError(
        f'Its conductor LSTM {list(conductor)} and core decoders {dec} differ '
        'in width, which magenta\'s HierarchicalLstmDecoder (one dec_rnn_size '
        'for both) cannot build.')
  bars = num_steps // windows_lib.STEPS_PER_BAR
  z_size = shapes['encoder/mu/bias'][0]
  levels = (f', {num_segments}-step conductor {list(conductor)}'
            if num_segments else '')
  line = (f'{bars}-bar {KINDS[kind]}, z={z_size}, encoder BiLSTM {list(enc)}'
          f'{levels}, decoder LSTM {dec} x {len(depths)} '
          f'({"+".join(map(str, depths))} classes)')
  # pylint: disable=g-import-not-at-top  (listing checkpoints needs no TF)
  from magenta.common import merge_hparams
  from magenta.contrib import training as contrib_training
  from magenta.models.music_vae import configs as music_vae_configs
  from magenta.models.music_vae import data
  from magenta.models.music_vae import lstm_models
  from magenta.models.music_vae.base_model import MusicVAE
  steps = dict(steps_per_quarter=windows_lib.STEPS_PER_QUARTER,
               slice_bars=bars)
  if kind == 'MelodyConverter':
    converter = data.OneHotMelodyConverter(
        skip_polyphony=False, max_bars=100, min_pitch=min_pitch,
        max_pitch=max_pitch, **steps)
  elif kind == 'TrioConverter':
    converter = data.TrioConverter(gap_bars=2, **steps)
  else:
    converter = data.DrumsConverter(
        max_bars=100, roll_input=True,
        roll_output=kind == 'DrumRollConverter', **steps)
  if nade_hidden:
    core = lstm_models.MultiLabelRnnNadeDecoder()
  elif kind == 'TrioConverter':
    core = lstm_models.SplitMultiOutLstmDecoder(
        core_decoders=[lstm_models.CategoricalLstmDecoder() for _ in depths],
        output_depths=depths)
  else:
    core = lstm_models.CategoricalLstmDecoder()
  encoder, decoder = lstm_models.BidirectionalLstmEncoder(), core
  if num_segments:
    segment = num_steps // num_segments
    encoder = lstm_models.HierarchicalLstmEncoder(
        lstm_models.BidirectionalLstmEncoder, [segment, num_segments])
    decoder = lstm_models.HierarchicalLstmDecoder(
        core, level_lengths=[num_segments, segment],
        disable_autoregression=True)
  hparams = contrib_training.HParams(
      batch_size=64, max_seq_len=num_steps, z_size=z_size,
      enc_rnn_size=list(enc), dec_rnn_size=dec, free_bits=0, max_beta=0.2,
      **({'nade_num_hidden': nade_hidden} if nade_hidden else {}))
  config = music_vae_configs.Config(
      model=MusicVAE(encoder, decoder),
      hparams=merge_hparams(lstm_models.get_default_hparams(), hparams),
      note_sequence_augmenter=None, data_converter=converter,
      train_examples_path=None, eval_examples_path=None)
  return config, line, kind == 'TrioConverter'


# What exports may drop (model.ts never reads sigma; MidiMe trains on mu).
OPTIONAL_VARIABLES = ('encoder/sigma/kernel', 'encoder/sigma/bias')


def mismatches(expected, found):
  """{name: (shape, found's or None)} of the variables of `expected` that
  `found` lacks or holds with another shape."""
  return {name: (shape, found.get(name)) for name, shape in expected.items()
          if found.get(name) != list(shape)}


def check_fits(expected, manifest, folder):
  """TfjsCheckpointError naming the first variable of the manifest that is
  missing from, extra to or shaped unlike `expected` (the config's)."""
  found = {w['name']: list(w['shape']) for g in manifest for w in g['weights']}
  wrong = sorted(n for n, (_, got) in mismatches(expected, found).items()
                 if got is not None or n not in OPTIONAL_VARIABLES)
  if wrong:
    got = f'shape {found[wrong[0]]}' if wrong[0] in found else 'missing'
    raise _Error(
        f'The Magenta.js checkpoint {folder} does not match the MusicVAE its '
        f'config.json describes: {wrong[0]} should be '
        f'{list(expected[wrong[0]])}, it is {got}.')
  extra = sorted(set(found) - set(expected))
  if extra:
    raise _Error(
        f'The Magenta.js checkpoint {folder} holds {len(extra)} variables the '
        f'MusicVAE of its config.json does not have (e.g. {extra[0]}).')
