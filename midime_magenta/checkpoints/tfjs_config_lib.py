"""The Python MusicVAE config of a Magenta.js checkpoint: the converter from
config.json, the architecture from the manifest's shapes (as magenta-js
`model.ts` reads them), composed of magenta's own classes."""

import dataclasses
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


class UnsupportedCheckpointError(tfjs_checkpoint_lib.TfjsCheckpointError):
  """A Magenta.js checkpoint of a kind MidiMe does not personalize."""


@dataclasses.dataclass(frozen=True)
class Architecture:
  """What a Magenta.js MusicVAE checkpoint is, read from its two JSON files:
  its converter type, steps a chunk, conductor steps (or None), sizes, each
  core decoder's output depth, NADE hidden size (or None), melody range."""
  converter: str
  num_steps: int
  num_segments: int | None
  z_size: int
  enc_rnn_size: tuple
  dec_rnn_size: tuple
  conductor_rnn_size: tuple
  output_depths: tuple
  nade_num_hidden: int | None = None
  min_pitch: int = 21
  max_pitch: int = 108

  @property
  def bars(self):
    return self.num_steps // windows_lib.STEPS_PER_BAR

  @property
  def is_trio(self):
    return self.converter == 'TrioConverter'

  def describe(self):
    """One line for logs and listings."""
    kind = KINDS[self.converter]
    levels = (f', {self.num_segments}-step conductor '
              f'{list(self.conductor_rnn_size)}' if self.num_segments else '')
    return (f'{self.bars}-bar {kind}, z={self.z_size}, encoder BiLSTM '
            f'{list(self.enc_rnn_size)}{levels}, decoder LSTM '
            f'{list(self.dec_rnn_size)} x {len(self.output_depths)} '
            f'({"+".join(str(d) for d in self.output_depths)} classes)')


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
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        f'{path} is not a usable Magenta.js config ({e}); fetch the '
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
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, int) or not (
      low <= value <= high):
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        f'config.json: dataConverter.args.{key} is {value!r}, not an integer '
        f'in [{low}, {high}].')
  return value


def _width(shapes, name):
  """An LSTM's units from its bias (4 gates), or None when absent."""
  shape = shapes.get(name + 'bias')
  return shape[0] // 4 if shape and shape[0] % 4 == 0 else None


def _widths(shapes, cell_format):
  """Widths of the stacked LSTM cells `cell_format % i`, as model.ts reads them."""
  widths = []
  while _width(shapes, cell_format % len(widths)):
    widths.append(_width(shapes, cell_format % len(widths)))
  return tuple(widths)


def describe(folder):
  """A Magenta.js checkpoint's `Architecture`; TfjsCheckpointError saying
  what is missing for files that describe no supported MusicVAE."""
  spec = read_spec(folder)
  manifest = tfjs_checkpoint_lib.read_manifest(folder)
  shapes = {w['name']: w['shape'] for g in manifest for w in g['weights']}
  kind = spec['dataConverter']['type']
  args = spec['dataConverter'].get('args', {})
  num_steps = _int_arg(args, 'numSteps', windows_lib.STEPS_PER_BAR, 4096)
  num_segments = _int_arg(args, 'numSegments', 1, 256)
  if num_steps is None or num_steps % windows_lib.STEPS_PER_BAR:
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        f'config.json: numSteps {num_steps} is not a whole number of 4/4 '
        'bars at 4 steps per quarter.')
  if num_segments and num_steps % num_segments:
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        f'config.json: numSteps {num_steps} is not divisible by numSegments '
        f'{num_segments}.')
  melody_args = args.get('melArgs', args) if kind == 'TrioConverter' else args
  if not isinstance(melody_args, dict):
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        'config.json: dataConverter.args.melArgs is not an object.')
  min_pitch = _int_arg(melody_args, 'minPitch', 0, 127, 21)
  max_pitch = _int_arg(melody_args, 'maxPitch', min_pitch, 127, 108)

  def missing(what):
    return tfjs_checkpoint_lib.TfjsCheckpointError(
        f'{os.path.join(folder, tfjs_checkpoint_lib.MANIFEST)} has no {what}, '
        'which a Magenta.js MusicVAE of this kind has; fetch it again.')

  if 'encoder/mu/bias' not in shapes:
    raise missing('encoder/mu')
  bidi = 'cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/'
  if num_segments:
    enc = tuple(_width(shapes, f'encoder/hierarchical_level_{i}/{bidi}')
                for i in range(2))
    if None in enc or enc[0] != enc[1]:
      raise missing('two hierarchical encoder levels of one width')
    enc = enc[:1]
    conductor = _widths(shapes, 'decoder/hierarchical_level_0/cell_%d/'
                        'lstm_cell/')
    if not conductor:
      raise missing('conductor LSTM (decoder/hierarchical_level_0)')
    prefix = 'core_decoder/'
  else:
    enc = _widths(shapes, 'encoder/cell_%d/bidirectional_rnn/fw/'
                  'multi_rnn_cell/cell_0/lstm_cell/')
    conductor = ()
    prefix = ''
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
    if nade is not None:
      nade_hidden = nade[-1]
    depths.append(projection[0] if nade is None else nade[0])
  if len(dec_sizes) != 1:
    raise missing('core decoders of one width')
  if kind == 'DrumRollConverter' and nade_hidden is None:
    raise missing('NADE (decoder/nade/w_enc) for its drum-roll output')
  return Architecture(
      converter=kind, num_steps=num_steps, num_segments=num_segments,
      z_size=shapes['encoder/mu/bias'][0], enc_rnn_size=enc,
      dec_rnn_size=dec_sizes.pop(), conductor_rnn_size=conductor,
      output_depths=tuple(depths), nade_num_hidden=nade_hidden,
      min_pitch=min_pitch, max_pitch=max_pitch)


def music_vae_config(architecture):
  """magenta's `Config` for an `Architecture`, as magenta's hierdec configs compose it."""
  # pylint: disable=g-import-not-at-top  (listing checkpoints needs no TF)
  from magenta.common import merge_hparams
  from magenta.contrib import training as contrib_training
  from magenta.models.music_vae import configs as music_vae_configs
  from magenta.models.music_vae import data
  from magenta.models.music_vae import lstm_models
  from magenta.models.music_vae.base_model import MusicVAE
  a = architecture
  if a.conductor_rnn_size and list(a.conductor_rnn_size) != list(
      a.dec_rnn_size):
    raise UnsupportedCheckpointError(
        f'Its conductor LSTM {list(a.conductor_rnn_size)} and core decoders '
        f'{list(a.dec_rnn_size)} differ in width, which magenta\'s '
        'HierarchicalLstmDecoder (one dec_rnn_size for both) cannot build.')
  bars = a.bars
  if a.converter == 'MelodyConverter':
    converter = data.OneHotMelodyConverter(
        skip_polyphony=False, max_bars=100, slice_bars=bars,
        steps_per_quarter=windows_lib.STEPS_PER_QUARTER, min_pitch=a.min_pitch,
        max_pitch=a.max_pitch)
  elif a.converter in ('DrumsConverter', 'DrumRollConverter'):
    converter = data.DrumsConverter(
        max_bars=100, slice_bars=bars,
        steps_per_quarter=windows_lib.STEPS_PER_QUARTER, roll_input=True,
        roll_output=a.converter == 'DrumRollConverter')
  else:
    converter = data.TrioConverter(
        steps_per_quarter=windows_lib.STEPS_PER_QUARTER, slice_bars=bars,
        gap_bars=2)
  if a.nade_num_hidden:
    core = lstm_models.MultiLabelRnnNadeDecoder()
  elif a.is_trio:
    core = lstm_models.SplitMultiOutLstmDecoder(
        core_decoders=[lstm_models.CategoricalLstmDecoder()
                       for _ in a.output_depths],
        output_depths=list(a.output_depths))
  else:
    core = lstm_models.CategoricalLstmDecoder()
  if a.num_segments:
    segment = a.num_steps // a.num_segments
    encoder = lstm_models.HierarchicalLstmEncoder(
        lstm_models.BidirectionalLstmEncoder, [segment, a.num_segments])
    decoder = lstm_models.HierarchicalLstmDecoder(
        core, level_lengths=[a.num_segments, segment],
        disable_autoregression=True)
  else:
    encoder, decoder = lstm_models.BidirectionalLstmEncoder(), core
  hparams = dict(batch_size=64, max_seq_len=a.num_steps, z_size=a.z_size,
                 enc_rnn_size=list(a.enc_rnn_size),
                 dec_rnn_size=list(a.dec_rnn_size), free_bits=0, max_beta=0.2,
                 **({'nade_num_hidden': a.nade_num_hidden} if a.nade_num_hidden
                    else {}))
  return music_vae_configs.Config(
      model=MusicVAE(encoder, decoder),
      hparams=merge_hparams(lstm_models.get_default_hparams(),
                            contrib_training.HParams(**hparams)),
      note_sequence_augmenter=None,
      data_converter=converter,
      train_examples_path=None,
      eval_examples_path=None)


# What exports may drop (model.ts never reads sigma; MidiMe trains on mu).
OPTIONAL_VARIABLES = ('encoder/sigma/kernel', 'encoder/sigma/bias')


def check_fits(expected, manifest, folder):
  """TfjsCheckpointError naming the first variable of the manifest that is
  missing from, extra to or shaped unlike `expected` (the config's)."""
  found = {w['name']: list(w['shape']) for g in manifest for w in g['weights']}
  for name, shape in sorted(expected.items()):
    if name in OPTIONAL_VARIABLES and name not in found:
      continue
    if name not in found or found[name] != list(shape):
      got = 'missing' if name not in found else f'shape {found[name]}'
      raise tfjs_checkpoint_lib.TfjsCheckpointError(
          f'The Magenta.js checkpoint {folder} does not match the MusicVAE '
          f'its config.json describes: {name} should be {list(shape)}, it is '
          f'{got}.')
  extra = sorted(set(found) - set(expected))
  if extra:
    raise tfjs_checkpoint_lib.TfjsCheckpointError(
        f'The Magenta.js checkpoint {folder} holds {len(extra)} variables the '
        f'MusicVAE of its config.json does not have (e.g. {extra[0]}).')
