r"""Generates music from a MidiMe model trained by midime_train.

Reads like music_vae_generate, with MidiMe's modes added; --run_dir is the
MidiMe run folder, and MidiMe's outputs are named midime-<mode>, so they never
take the names of MusicVAE's samples (docs/personalizing.md).

Example usage:
  # Five personalized samples:
  midime_generate \
    --config=cat-mel_2bar_small \
    --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --run_dir=/path/to/my_midime \
    --mode=sample --num_outputs=5 --output_dir=/path/to/out

  # Plain MusicVAE samples for comparison (no --run_dir needed):
  midime_generate --config=cat-mel_2bar_small --checkpoint_file=... \
    --mode=prior --num_outputs=5 --output_dir=out

  # The training chunks through MidiMe, and one file of them back to back:
  midime_generate ... --mode=reconstruct --concat_outputs

  # Interpolate between two tunes in MidiMe's space; walk each dimension:
  midime_generate ... --mode=interpolate --input_midi_1=a.mid --input_midi_2=b.mid
  midime_generate ... --mode=traverse --num_outputs=5

  # Closer to your music, or newer (the scale of MidiMe's latents, default 1):
  midime_generate ... --mode=sample --variation=0.5

  # A whole 32-bar piece: 16 chunks along a smooth walk in MidiMe's space:
  midime_generate ... --mode=piece --num_outputs=16 --step_size=0.3

  # Steer: busier and more in C; after midime_constrain, --noconstrain drops
  # the run's rules:
  midime_generate ... --attribute=note_density:+1.5 --attribute=c_diatonic:+1

Modes:
  sample       decode MidiMe samples through MusicVAE (the personalized music)
  prior        plain MusicVAE samples from N(0, I), for comparison
  reconstruct  chunks through MusicVAE -> MidiMe -> MusicVAE, in time
               order: the training chunks, or those of --input_midi_1
  interpolate  between the first chunks of two MIDI files, in MidiMe's space
  traverse     each MidiMe dimension in turn from -2 to 2 (the demo's sliders)
  piece        one file of --num_outputs chunks along a smooth random walk

Files: <config>_midime-<mode>_<YYYY-mm-dd_HHMMSS>-000-of-005.mid, numbered as
music_vae_generate numbers them; no file is ever replaced (a clash gets '-2').
--seed fixes the latent draws; the decoder samples notes at --temperature with
TensorFlow's own randomness, as music_vae_generate does.
"""

import os
import time

import numpy as np
from absl import flags
from absl import logging

from midime_magenta import errors
from midime_magenta import script_util

# Imported where used, so that --help stays fast: TensorFlow and magenta
# (configs, personalizer, chunking_lib), note_seq, and plots_lib.
# pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
TRAVERSE_RANGE = (-2.0, 2.0)
WRITE_BATCH = 64  # Outputs decoded and written at a time.
MODES = ('sample', 'prior', 'reconstruct', 'interpolate', 'traverse',
         'piece')


def define_flags():
  """Defines the flags; called only when run as a script (see STYLE)."""
  script_util.define_common_flags()
  flags.DEFINE_string('run_dir', None, 'The folder midime_train wrote (not '
                      'needed for --mode=prior).')
  flags.DEFINE_enum('mode', 'sample', MODES, 'What to generate.')
  flags.DEFINE_integer('num_outputs', 5, 'Number of outputs; for interpolate, '
                       'the number of steps including the ends; for '
                       'traverse, the steps along each dimension.',
                       lower_bound=1, upper_bound=100_000)
  flags.DEFINE_string('output_dir', None, 'Where MIDI files are written.')
  flags.DEFINE_float('temperature', 0.5, 'The randomness of the decoding '
                     'process; 0 decodes greedily, as the MidiMe demo does.')
  flags.DEFINE_float('variation', 1.0, 'sample and piece: the scale of '
                     'MidiMe\'s latents; below 1 blends near the centre of '
                     'what it learned (fewer copies of your chunks), above 1 '
                     'lands nearer particular chunks (more copies).')
  flags.DEFINE_float('step_size', 0.3, 'piece: how far each chunk moves on '
                     'from the one before (0-1; 1 is unrelated chunks).')
  flags.DEFINE_multi_string(
      'attribute', [], 'name:strength, e.g. note_density:+1.5: moves every '
      'output along an attribute vector (c_diatonic, note_density, '
      'average_interval, syncopation_16th, syncopation_8th, pitch_range; '
      'strength -10..10, about -2..2 is musical). Repeat for several.')
  flags.DEFINE_boolean('allow_copies', False, 'sample and piece: keep a '
                       'sample that copies one of the chunks trained on (note '
                       'F1 >= 0.9); by default it is drawn again, up to 8 '
                       'times.')
  flags.DEFINE_boolean('constrain', True, 'Apply the run\'s rule constraint '
                       '(midime_constrain), when it has one.')
  script_util.define_batch_size_flag(8, 'The maximum batch size to use. '
                                     'Decrease if you are seeing an OOM.')
  flags.DEFINE_integer('seed', None, 'Seed for the latent draws.',
                       lower_bound=0, upper_bound=2**63 - 1)
  flags.DEFINE_string('input_midi_1', None, 'Start MIDI file for interpolate; '
                      'for reconstruct, a file to use instead of the '
                      'training chunks.')
  flags.DEFINE_string('input_midi_2', None, 'End MIDI file for interpolate.')
  flags.DEFINE_boolean('concat_outputs', False, 'Also write one MIDI file of '
                       'the outputs played back to back, each in its own '
                       'slot of one chunk\'s length.')
  flags.DEFINE_boolean('piano_rolls', True, 'Write a piano-roll PNG next to '
                       'each MIDI file.')
  flags.DEFINE_enum('voicing', 'input', ('input', 'music_vae'), 'input: '
                    'write outputs in the tempo and programs (instruments) of '
                    'the tracks the run was trained on; music_vae: in '
                    'MusicVAE\'s own 120 qpm, on piano (a trio\'s bass on '
                    '33).')
  flags.DEFINE_boolean('render_audio', False, 'Write a WAV next to each MIDI '
                       'file (FluidSynth with a GM soundfont if installed, '
                       'else note_seq\'s synthesizer).')


def output_basename(config_name, mode, date_and_time, num_outputs):
  """music_vae_generate's naming, with '*' standing for the output number."""
  return f'{config_name}_{mode}_{date_and_time}-*-of-{num_outputs:03d}.mid'


def write_outputs(sequences, output_dir, basename, concat_slot_seconds=None,
                  piano_rolls=False, render_audio=False, first_index=0,
                  concat=None, voicing=None):
  """Writes NoteSequences as MIDI files; never replaces an existing file.

  Args:
    concat_slot_seconds: also write one file of all outputs back to back, each
      in a slot of this many seconds (of `concat`, when given).
    first_index: the number of the first output (batches after the first).
    piano_rolls, render_audio: also a PNG / WAV under the MIDI file's name.
    voicing: the `tracks_lib.Voicing` to write MusicVAE's sequences in.

  Returns:
    The MIDI paths written (the concatenation last, when asked for).
  """
  import note_seq
  from midime_magenta import chunking_lib
  from midime_magenta import file_util
  named = [(basename.replace('*', f'{i:03d}'), ns)  # From 000, as magenta.
           for i, ns in enumerate(sequences, start=first_index)]
  concat = sequences if concat is None else concat
  if concat_slot_seconds and concat:
    named.append((basename.replace('-*-of-', '-concat-of-'),
                  chunking_lib.concatenate_in_slots(concat,
                                                    concat_slot_seconds)))
  if voicing is not None:
    named = [(name, voicing.apply(ns)) for name, ns in named]
  if piano_rolls:
    from midime_magenta import plots_lib
  if render_audio:
    from midime_magenta import audio_lib
  written = []
  synths = set()
  for name, ns in named:
    path = file_util.write_atomically(
        os.path.join(output_dir, name),
        lambda tmp, ns=ns: note_seq.sequence_proto_to_midi_file(ns, tmp),
        replace=False)
    written.append(path)
    stem = os.path.splitext(path)[0]
    if piano_rolls:
      plots_lib.plot_piano_roll(ns, stem + '.png', title=name, replace=False)
    if render_audio:
      file_util.write_atomically(
          stem + '.wav',
          lambda tmp, p=path: synths.add(audio_lib.render_wav(p, tmp)),
          replace=False)
  if synths:
    logging.info('Rendered audio with %s.', ', '.join(sorted(synths)))
  return written


def _check_flags():
  """Refuses flag combinations that cannot work, and a missing run or input
  or an unwritable --output_dir, before TensorFlow loads.

  Returns the attribute strengths, {name: strength}.
  """
  for name in ('checkpoint_file', 'output_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  if FLAGS.mode == 'interpolate' and FLAGS.num_outputs < 2:
    raise errors.UsageError(
        '--num_outputs is the number of interpolation steps, ends included; '
        'it must be at least 2.')
  if not FLAGS.temperature >= 0 or not np.isfinite(FLAGS.temperature):
    raise errors.UsageError(
        f'--temperature must be a positive number, or 0 to decode greedily, '
        f'got {FLAGS.temperature}.')
  if not 0.0 < FLAGS.variation <= 10.0:
    raise errors.UsageError(
        f'--variation must be in (0, 10], got {FLAGS.variation}.')
  if not 0.0 < FLAGS.step_size <= 1.0:
    raise errors.UsageError(
        f'--step_size must be in (0, 1], got {FLAGS.step_size}.')
  if FLAGS.mode != 'prior' and not FLAGS.run_dir:
    raise errors.UsageError(
        f'--mode={FLAGS.mode} needs --run_dir, the folder midime_train wrote.')
  if FLAGS.mode == 'interpolate' and not (FLAGS.input_midi_1 and
                                          FLAGS.input_midi_2):
    raise errors.UsageError(
        '--mode=interpolate needs --input_midi_1 and --input_midi_2.')
  # pylint: disable=g-import-not-at-top
  from midime_magenta import steering
  from midime_magenta import file_util
  from midime_magenta import midi_io
  from midime_magenta import run_lib
  strengths = steering.parse_strengths(FLAGS.attribute)
  for spec in filter(None, [FLAGS.input_midi_1, FLAGS.input_midi_2]):
    midi_io.find_input_files(spec)
  if FLAGS.run_dir:
    run_lib.read_model_info(FLAGS.run_dir)  # Fail before any folder is made.
  file_util.check_writable_dir(FLAGS.output_dir, '--output_dir')
  return strengths


def run():
  """Checks the flags, generates and writes; returns the files written."""
  strengths = _check_flags()
  if FLAGS.mode == 'piece' or FLAGS.concat_outputs:
    from midime_magenta import chunking_lib  # pylint: disable=g-import-not-at-top
    chunking_lib.check_concat_length(
        FLAGS.num_outputs, 'A piece' if FLAGS.mode == 'piece' else
        '--concat_outputs\'s file')
  from midime_magenta import configs
  from midime_magenta import file_util
  from midime_magenta import novelty_lib
  from midime_magenta import personalizer as personalizer_lib
  from midime_magenta import run_lib
  mode, num_outputs, run_dir = FLAGS.mode, FLAGS.num_outputs, FLAGS.run_dir
  if FLAGS.config is not None:
    configs.get_config(FLAGS.config)  # Fail before any folder is made.
  batch_size = min(FLAGS.max_batch_size, num_outputs)
  date_and_time = time.strftime('%Y-%m-%d_%H%M%S')
  rng = np.random.default_rng(FLAGS.seed)
  if run_dir:
    personalizer = personalizer_lib.Personalizer.load(
        run_dir, FLAGS.checkpoint_file, config=FLAGS.config,
        batch_size=batch_size)
  else:
    personalizer = personalizer_lib.Personalizer(
        FLAGS.config, FLAGS.checkpoint_file, batch_size=batch_size)
  music_vae = personalizer.music_vae
  voicing = _voicing(personalizer)
  points = renew = None
  if mode == 'prior':
    latents = {mode: music_vae.prior_latents(num_outputs, rng)}
  elif mode in ('sample', 'piece'):
    points = _midime_points(personalizer, rng)
    latents = {mode: personalizer.midime.decode(points)}
  else:
    latents = _midime_latents(personalizer, rng)
  _prepare_steering(personalizer, strengths)
  for label, z in latents.items():
    if not np.all(np.isfinite(z)):
      raise errors.UsageError(
          f'The model in {run_dir} gives non-finite latents (its weights are '
          'damaged or diverged); train it again.')
    latents[label] = personalizer.steer(z, strengths, FLAGS.constrain)
  if points is not None and not FLAGS.allow_copies:
    redraw = (novelty_lib.fresh_draws(FLAGS.variation) if mode == 'sample'
              else novelty_lib.walk_steps(FLAGS.step_size, FLAGS.variation))
    redraws = np.random.default_rng(rng.integers(2**31))
    renew = lambda sequences, rows: personalizer.new_only(  # pylint: disable=g-long-lambda
        sequences, points[rows], redraw, redraws, FLAGS.temperature,
        strengths, FLAGS.constrain)
  written = []
  for label, z in latents.items():
    piece = mode == 'piece'
    basename = output_basename(
        personalizer.config.name, label if mode == 'prior' else
        f'midime-{label}', date_and_time, 1 if piece else len(z))
    if piece:
      logging.info('Writing a piece of %d chunks (%d bars) as %s ...', len(z),
                   len(z) * music_vae.chunk_steps // 16, basename)
    else:
      logging.info('Writing %d files as %s ...', len(z), basename)
    written += _decode_and_write(
        music_vae, z, basename,
        music_vae.chunk_seconds if piece or FLAGS.concat_outputs else None,
        only_concat=piece, renew=renew, voicing=voicing)
  logging.info('Wrote %d files to %s.', len(written), FLAGS.output_dir)
  return written


def _prepare_steering(personalizer, strengths):
  """Says what steers; attribute vectors from MusicVAE's prior if the run
  has none (in memory: generating never writes into the run)."""
  if strengths and personalizer.attributes is None:
    logging.info('The run has no attribute vectors; computing MusicVAE\'s '
                 'prior\'s (midime_train --attributes_from keeps a set with '
                 'the run) ...')
    personalizer.compute_attribute_vectors()
  if strengths:
    logging.info('Attributes: %s.', ', '.join(
        f'{k} {v:+g}' for k, v in strengths.items()))
  constraint = personalizer.constraint
  if constraint is not None:
    if FLAGS.constrain:
      logging.info('Applying the run\'s rule constraint (%s); '
                   '--noconstrain to leave it out.',
                   ', '.join(constraint.specs))
    else:
      logging.info('Leaving out the run\'s rule constraint (%s).',
                   ', '.join(constraint.specs))


def _voicing(personalizer):
  """The voicing outputs are written in (--voicing), said once."""
  from midime_magenta import tracks_lib
  if FLAGS.voicing == 'music_vae' or personalizer.voicing == (
      tracks_lib.Voicing()):
    logging.info('Writing in MusicVAE\'s own 120 qpm and programs.')
    return tracks_lib.Voicing()
  trio = personalizer.kind == 'trio'
  logging.info('Writing in the input\'s %s (--voicing=music_vae for '
               'MusicVAE\'s 120 qpm and piano).',
               personalizer.voicing.describe(trio))
  return personalizer.voicing


def _decode_and_write(music_vae, z, basename, slot_seconds,
                      only_concat=False, renew=None, voicing=None):
  """Decodes and writes `WRITE_BATCH` outputs at a time, with progress.

  Memory stays flat, and what was written before a Ctrl-C is whole. With
  `only_concat` (a piece) only the concatenation is written. `renew(sequences,
  rows)` replaces decoded rows that copy an input chunk.
  """
  from midime_magenta import chunking_lib
  from midime_magenta import progress_lib
  output_dir, temperature = FLAGS.output_dir, FLAGS.temperature
  piano_rolls, render_audio = FLAGS.piano_rolls, FLAGS.render_audio
  written, kept = [], []
  with progress_lib.progress_bar(len(z), 'Generating', 'chunks' if only_concat
                                 else 'files') as bar:
    for first in range(0, len(z), WRITE_BATCH):
      rows = slice(first, first + WRITE_BATCH)
      sequences = music_vae.decode(z[rows], temperature)
      if renew is not None:
        sequences = renew(sequences, rows)
      if not only_concat:
        written += write_outputs(sequences, output_dir, basename, None,
                                 piano_rolls, render_audio, first_index=first,
                                 voicing=voicing)
      if slot_seconds:
        kept += sequences
      bar.update(len(sequences))
  if only_concat:
    written += write_outputs(
        [chunking_lib.concatenate_in_slots(kept, slot_seconds)], output_dir,
        basename, None, piano_rolls, render_audio, voicing=voicing)
  elif slot_seconds:
    written += write_outputs([], output_dir, basename, slot_seconds,
                             piano_rolls, render_audio, concat=kept,
                             voicing=voicing)
  return written


def _midime_points(personalizer, rng):
  """sample and piece: MidiMe's small latents, [n, latent_size]."""
  midime = personalizer.midime
  if FLAGS.mode == 'sample':
    return midime.sample_points(FLAGS.num_outputs, rng.integers(2**31),
                                FLAGS.variation)
  return midime.walk_points(FLAGS.num_outputs, FLAGS.step_size,
                            rng.integers(2**31), FLAGS.variation)


def _midime_latents(personalizer, rng):
  """The MidiMe modes' MusicVAE latents: {label: float32 [n, z_size]}."""
  midime = personalizer.midime
  mode, num_outputs = FLAGS.mode, FLAGS.num_outputs
  input_midi_1, input_midi_2 = FLAGS.input_midi_1, FLAGS.input_midi_2
  if mode == 'reconstruct':
    z = personalizer.latents_of(input_midi_1 or None)
    if num_outputs < len(z):
      logging.info('Reconstructing the first %d of %d chunks.', num_outputs,
                   len(z))
    return {mode: midime.reconstruct(z[:num_outputs])}
  if mode == 'interpolate':
    return {mode: personalizer.interpolation_latents(
        input_midi_1, input_midi_2, num_outputs)}
  values = np.linspace(*TRAVERSE_RANGE, num_outputs, dtype=np.float32)
  return {f'traverse-dim{d + 1}': midime.traverse(d, values)
          for d in range(midime.hparams.latent_size)}


def console_entry_point():
  script_util.run_console_script(define_flags, run, check_first=_check_flags)


if __name__ == '__main__':
  console_entry_point()
