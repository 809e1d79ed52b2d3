r"""Generates music from a MidiMe model trained by midime_train.

Reads like music_vae_generate, with MidiMe's modes; --run_dir is the MidiMe
run folder (docs/personalizing.md).

Example usage:
  # Five personalized samples:
  midime_generate \
    --config=cat-mel_2bar_small \
    --checkpoint_file=/path/to/mel_2bar_small/model.ckpt \
    --run_dir=/path/to/my_midime \
    --mode=sample --num_outputs=5 --output_dir=/path/to/out

  midime_generate ... --mode=reconstruct --concat_outputs
  midime_generate ... --mode=interpolate --input_midi_1=a.mid --input_midi_2=b.mid
  midime_generate ... --mode=piece --num_outputs=16 --step_size=0.3
  midime_generate ... --attribute=note_density:+1.5 --attribute=c_diatonic:+1

Modes:
  sample       decode MidiMe samples through MusicVAE (the personalized music)
  prior        plain MusicVAE samples from N(0, I), for comparison
  reconstruct  chunks through MusicVAE -> MidiMe -> MusicVAE, in time
               order: the training chunks, or those of --input_midi_1
  interpolate  between the first chunks of two MIDI files, in MidiMe's space
  traverse     each MidiMe dimension in turn from -2 to 2 (the demo's sliders)
  piece        one file of --num_outputs chunks along a smooth random walk

Files: <config>_midime-<mode>_<YYYY-mm-dd_HHMMSS>-000-of-005.mid, as
music_vae_generate names them; none is ever replaced (a clash gets '-2').
"""

import os
import time

import numpy as np
from absl import flags
from absl import logging

from midime_magenta import errors
from midime_magenta import script_util

# Imported where used, so that --help stays fast.
# pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
TRAVERSE_RANGE = (-2.0, 2.0)
WRITE_BATCH = 64  # Outputs decoded and written at a time.
MODES = ('sample', 'prior', 'reconstruct', 'interpolate', 'traverse',
         'piece')


def define_flags():
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
                     'MidiMe\'s latents (below 1: nearer its centre).')
  flags.DEFINE_float('step_size', 0.3, 'piece: how far each chunk moves on '
                     'from the one before (0-1; 1 is unrelated chunks).')
  flags.DEFINE_multi_string(
      'attribute', [], 'name:strength, e.g. note_density:+1.5: moves every '
      'output along an attribute vector (c_diatonic, note_density, '
      'average_interval, syncopation_16th, syncopation_8th, pitch_range; '
      'strength -10..10, about -2..2 is musical). Repeat for several.')
  flags.DEFINE_boolean('allow_copies', False, 'sample and piece: keep samples '
                       'that copy a chunk trained on, not drawn again.')
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
                       'the outputs back to back.')
  flags.DEFINE_boolean('piano_rolls', True, 'Write a piano-roll PNG next to '
                       'each MIDI file.')
  flags.DEFINE_enum('voicing', 'input', ('input', 'music_vae'), 'input: '
                    'write in the tempo and programs the run was trained on; '
                    'music_vae: in MusicVAE\'s 120 qpm, on piano.')
  flags.DEFINE_boolean('render_audio', False, 'Write a WAV next to each MIDI '
                       'file (FluidSynth if installed).')


def write_outputs(sequences, output_dir, basename, piano_rolls=False,
                  render_audio=False, first_index=0, voicing=None):
  """Writes NoteSequences as MIDI files, never replacing one; returns the paths.

  `basename` holds '*' for the output number (from `first_index`);
  `piano_rolls` and `render_audio` add a PNG and a WAV under the MIDI file's
  name; `voicing` is the `tracks_lib.Voicing` to write in.
  """
  import note_seq
  from midime_magenta import file_util
  written, synths = [], set()
  for i, ns in enumerate(sequences, start=first_index):
    name = basename.replace('*', f'{i:03d}')  # From 000, as magenta.
    ns = voicing.apply(ns) if voicing else ns
    path = file_util.write_atomically(
        os.path.join(output_dir, name),
        lambda tmp, ns=ns: note_seq.sequence_proto_to_midi_file(ns, tmp),
        replace=False)
    written.append(path)
    stem = os.path.splitext(path)[0]
    if piano_rolls:
      from midime_magenta import plots_lib
      plots_lib.plot_piano_roll(ns, stem + '.png', title=name, replace=False)
    if render_audio:
      from midime_magenta import audio_lib
      file_util.write_atomically(
          stem + '.wav',
          lambda tmp, p=path: synths.add(audio_lib.render_wav(p, tmp)),
          replace=False)
  if synths:
    logging.info('Rendered audio with %s.', ', '.join(sorted(synths)))
  return written


def _check_flags():
  """The flag checks, before TensorFlow loads; returns the attribute
  strengths, {name: strength}."""
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
  from midime_magenta import steering
  from midime_magenta import file_util
  from midime_magenta import midi_io
  from midime_magenta import run_lib
  strengths = steering.parse_strengths(FLAGS.attribute)
  for spec in filter(None, [FLAGS.input_midi_1, FLAGS.input_midi_2]):
    midi_io.find_input_files(spec)
  if FLAGS.run_dir:
    run_lib.read_model_info(FLAGS.run_dir)
  file_util.check_writable_dir(FLAGS.output_dir, '--output_dir')
  return strengths


def run(strengths):
  """Generates and writes the files (`strengths`: from `_check_flags`);
  returns their paths."""
  from midime_magenta import chunking_lib
  from midime_magenta import novelty_lib
  from midime_magenta import personalizer as personalizer_lib
  mode, num_outputs, run_dir = FLAGS.mode, FLAGS.num_outputs, FLAGS.run_dir
  piece = mode == 'piece'
  if piece or FLAGS.concat_outputs:
    chunking_lib.check_concat_length(
        num_outputs, 'A piece' if piece else '--concat_outputs\'s file')
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
  latents, points = _latents(personalizer, rng)
  _prepare_steering(personalizer, strengths)
  for label, z in latents.items():
    if not np.all(np.isfinite(z)):
      raise errors.UsageError(
          f'The model in {run_dir} gives non-finite latents (its weights are '
          'damaged or diverged); train it again.')
    latents[label] = personalizer.steer(z, strengths, FLAGS.constrain)
  renew = None
  if points is not None and not FLAGS.allow_copies:
    redraw = (novelty_lib.fresh_draws(FLAGS.variation) if mode == 'sample'
              else novelty_lib.walk_steps(FLAGS.step_size, FLAGS.variation))
    redraws = np.random.default_rng(rng.integers(2**31))
    renew = lambda sequences, rows: personalizer.new_only(  # pylint: disable=g-long-lambda
        sequences, points[rows], redraw, redraws, FLAGS.temperature,
        strengths, FLAGS.constrain)
  written = []
  for label, z in latents.items():
    basename = (  # music_vae_generate's naming.
        f'{personalizer.config.name}_'
        f'{label if mode == "prior" else "midime-" + label}_{date_and_time}'
        f'-*-of-{1 if piece else len(z):03d}.mid')
    if piece:
      logging.info('Writing a piece of %d chunks (%d bars) as %s ...', len(z),
                   len(z) * music_vae.chunk_steps // 16, basename)
    else:
      logging.info('Writing %d files as %s ...', len(z), basename)
    written += _decode_and_write(
        music_vae, z, basename,
        music_vae.chunk_seconds if piece or FLAGS.concat_outputs else None,
        piece, renew, voicing)
  logging.info('Wrote %d files to %s.', len(written), FLAGS.output_dir)
  return written


def _prepare_steering(personalizer, strengths):
  """Says what steers; attribute vectors from MusicVAE's prior (in memory)
  if the run has none."""
  if strengths and personalizer.attributes is None:
    logging.info('The run has no attribute vectors; computing MusicVAE\'s '
                 'prior\'s (midime_train --attributes_from keeps a set with '
                 'the run) ...')
    personalizer.compute_attribute_vectors()
  if strengths:
    logging.info('Attributes: %s.', ', '.join(
        f'{k} {v:+g}' for k, v in strengths.items()))
  if personalizer.constraint is not None:
    logging.info('Applying the run\'s rule constraint (%s); --noconstrain to '
                 'leave it out.' if FLAGS.constrain else 'Leaving out the '
                 'run\'s rule constraint (%s).',
                 ', '.join(personalizer.constraint.specs))


def _voicing(personalizer):
  """The voicing outputs are written in (--voicing), said once."""
  from midime_magenta import tracks_lib
  if FLAGS.voicing == 'music_vae' or personalizer.voicing == (
      tracks_lib.Voicing()):
    logging.info('Writing in MusicVAE\'s own 120 qpm and programs.')
    return tracks_lib.Voicing()
  logging.info('Writing in the input\'s %s (--voicing=music_vae for '
               'MusicVAE\'s 120 qpm and piano).',
               personalizer.voicing.describe(personalizer.kind == 'trio'))
  return personalizer.voicing


def _decode_and_write(music_vae, z, basename, slot_seconds, only_concat,
                      renew, voicing):
  """Decodes and writes `WRITE_BATCH` outputs at a time, with progress;
  `only_concat` (a piece) writes only the concatenation, and `renew(sequences,
  rows)` redraws rows that copy an input chunk."""
  from midime_magenta import chunking_lib
  from midime_magenta import progress_lib
  extras = FLAGS.piano_rolls, FLAGS.render_audio
  written, kept = [], []
  with progress_lib.progress_bar(len(z), 'Generating', 'chunks' if only_concat
                                 else 'files') as bar:
    for first in range(0, len(z), WRITE_BATCH):
      rows = slice(first, first + WRITE_BATCH)
      sequences = music_vae.decode(z[rows], FLAGS.temperature)
      if renew is not None:
        sequences = renew(sequences, rows)
      if not only_concat:
        written += write_outputs(sequences, FLAGS.output_dir, basename,
                                 *extras, first, voicing)
      if slot_seconds:
        kept += sequences
      bar.update(len(sequences))
  if kept:
    written += write_outputs(
        [chunking_lib.concatenate_in_slots(kept, slot_seconds)],
        FLAGS.output_dir,
        basename if only_concat else basename.replace('-*-of-', '-concat-of-'),
        *extras, voicing=voicing)
  return written


def _latents(personalizer, rng):
  """The mode's MusicVAE latents, {label: float32 [n, z_size]}, and the
  MidiMe points they decode (sample and piece; else None)."""
  midime, mode, num_outputs = personalizer.midime, FLAGS.mode, FLAGS.num_outputs
  if mode == 'prior':
    return {mode: personalizer.music_vae.prior_latents(num_outputs, rng)}, None
  if mode in ('sample', 'piece'):
    seed = rng.integers(2**31)
    points = (midime.sample_points(num_outputs, seed, FLAGS.variation)
              if mode == 'sample' else midime.walk_points(
                  num_outputs, FLAGS.step_size, seed, FLAGS.variation))
    return {mode: midime.decode(points)}, points
  if mode == 'reconstruct':
    z = personalizer.latents_of(FLAGS.input_midi_1 or None)
    if num_outputs < len(z):
      logging.info('Reconstructing the first %d of %d chunks.', num_outputs,
                   len(z))
    return {mode: midime.reconstruct(z[:num_outputs])}, None
  if mode == 'interpolate':
    return {mode: personalizer.interpolation_latents(
        FLAGS.input_midi_1, FLAGS.input_midi_2, num_outputs)}, None
  values = np.linspace(*TRAVERSE_RANGE, num_outputs, dtype=np.float32)
  return {f'traverse-dim{d + 1}': midime.traverse(d, values)
          for d in range(midime.hparams.latent_size)}, None


def console_entry_point():
  script_util.run_console_script(define_flags, run, check_first=_check_flags)


if __name__ == '__main__':
  console_entry_point()
