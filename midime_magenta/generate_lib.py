"""`midime_generate`'s work, as a flag-free function.

Modes:
  sample       decode MidiMe samples through MusicVAE (the personalized music)
  prior        plain MusicVAE samples from N(0, I), for comparison
  reconstruct  chunks through MusicVAE -> MidiMe -> MusicVAE, in time
               order: the training chunks, or those of --input_midi_1
  interpolate  between the first chunks of two MIDI files, in MidiMe's space
  traverse     each MidiMe dimension in turn from -2 to 2, others at 0 (the
               demo's sliders, as files)
  piece        one file of --num_outputs chunks along a smooth random walk
               in MidiMe's space (--step_size), each in its own slot

Files are named as music_vae_generate names them, numbered from 000 as it
does (-000-of-005 ... -004-of-005), so the two tools' folders line up:
  <config>_<mode>_<YYYY-mm-dd_HHMMSS>-000-of-005.mid
(traverse adds the dimension: <config>_traverse-dim1_...). No existing file is
ever replaced; a clash gets '-2', '-3', ... before '.mid'.

Steering, in every mode: --attribute=name:strength moves each latent along
an attribute vector (attributes_lib; the run's own, else computed from
MusicVAE's prior and saved with the run), and a rule constraint the run has
(midime_constrain) is applied unless --noconstrain.

On seeds: --seed fixes the latent draws. The MusicVAE decoder still samples
its notes at --temperature with TensorFlow's own randomness, as
music_vae_generate does (TrainedModel builds its graph without a seed), so
outputs at a temperature well above 0 vary between runs.
"""

import os
import time

import note_seq
import numpy as np
from absl import logging

from midime_magenta import configs
from midime_magenta import errors
from midime_magenta import file_util
from midime_magenta import midime_generate
from midime_magenta import progress_lib

# Imported where used: matplotlib (plots_lib) costs about 0.9 s and the Keras
# model code is not needed for --mode=prior.
# pylint: disable=g-import-not-at-top

# The modes are the command's interface; their one home is the script module,
# which imports nothing heavy, so `midime_generate --help` stays fast.
MODES = midime_generate.MODES
TRAVERSE_RANGE = (-2.0, 2.0)
WRITE_BATCH = 64  # Outputs decoded and written at a time.


def check_arguments(mode, num_outputs, temperature, max_batch_size, run_dir,
                    input_midi_1, input_midi_2, variation=1.0,
                    step_size=0.3, attributes=()):
  """Refuses flag combinations that cannot work, before anything loads.

  Returns:
    The attribute strengths, {name: strength} (`attributes_lib`).

  Raises:
    errors.UsageError: saying which flag is wrong and what to pass.
  """
  if mode not in MODES:
    raise errors.UsageError(
        f'Unknown --mode={mode}; use one of {", ".join(MODES)}.')
  if num_outputs < 1:
    raise errors.UsageError(
        f'--num_outputs must be at least 1, got {num_outputs}.')
  if mode == 'interpolate' and num_outputs < 2:
    raise errors.UsageError(
        '--num_outputs is the number of interpolation steps, ends included; '
        'it must be at least 2.')
  if not temperature > 0 or not np.isfinite(temperature):
    raise errors.UsageError(
        f'--temperature must be a positive number, got {temperature}.')
  if max_batch_size < 1:
    raise errors.UsageError(
        f'--max_batch_size must be at least 1, got {max_batch_size}.')
  if not 0.0 < variation <= 10.0:
    raise errors.UsageError(
        f'--variation must be in (0, 10], got {variation}.')
  if not 0.0 < step_size <= 1.0:
    raise errors.UsageError(
        f'--step_size must be in (0, 1], got {step_size}.')
  if mode != 'prior' and not run_dir:
    raise errors.UsageError(
        f'--mode={mode} needs --run_dir, the folder midime_train wrote.')
  if mode == 'interpolate' and not (input_midi_1 and input_midi_2):
    raise errors.UsageError(
        '--mode=interpolate needs --input_midi_1 and --input_midi_2.')
  from midime_magenta import attributes_lib  # pylint: disable=g-import-not-at-top
  return attributes_lib.parse_strengths(attributes)


def output_basename(config_name, mode, date_and_time, num_outputs):
  """music_vae_generate's naming, with '*' standing for the output number."""
  return f'{config_name}_{mode}_{date_and_time}-*-of-{num_outputs:03d}.mid'


def concatenate_in_slots(sequences, slot_seconds):
  """One sequence of the outputs back to back, each in its own slot.

  note_seq's `concatenate_sequences` places each sequence after the last
  note of the one before, so rests at the end of a chunk vanish and the
  rhythm between outputs shifts. Every output is a chunk of the same
  length, so each gets exactly `slot_seconds`.
  """
  return note_seq.sequences_lib.concatenate_sequences(
      list(sequences), [slot_seconds] * len(sequences))


def write_outputs(sequences, output_dir, basename, concat_slot_seconds=None,
                  piano_rolls=False, render_audio=False, first_index=0,
                  concat=None):
  """Writes NoteSequences as MIDI files; never replaces an existing file.

  Args:
    concat_slot_seconds: also write one file of all outputs back to back,
      each in a slot of this many seconds.
    first_index: the number of the first output (batches after the first).
    concat: the sequences to concatenate, when not `sequences` (the whole
      run's, after it was written in batches).

  With `piano_rolls`, a PNG piano roll goes next to each MIDI file; with
  `render_audio`, a WAV (see audio_lib). Both share the MIDI file's name.

  Returns:
    The MIDI paths written (the concatenation last, when asked for).
  """
  named = [(basename.replace('*', f'{i:03d}'), ns)  # From 000, as magenta.
           for i, ns in enumerate(sequences, start=first_index)]
  concat = sequences if concat is None else concat
  if concat_slot_seconds and concat:
    named.append((basename.replace('-*-of-', '-concat-of-'),
                  concatenate_in_slots(concat, concat_slot_seconds)))
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


def generate(config_name, checkpoint_file, run_dir, mode, num_outputs,
             output_dir, temperature=0.5, max_batch_size=8, seed=None,
             input_midi_1=None, input_midi_2=None, concat_outputs=False,
             piano_rolls=True, render_audio=False, variation=1.0,
             step_size=0.3, attributes=(), constrain=True):
  """Generates MIDI files with a trained MidiMe (or plain MusicVAE).

  Args:
    attributes: ['name:strength', ...] (see module doc).
    constrain: apply the run's rule constraint, when it has one.

  Returns:
    The list of files written.

  Raises:
    errors.MidiMeError (UsageError, ConfigError, CheckpointError,
    ModelFileError, ModelMismatchError, InputError, NoChunksError,
    AttributeVectorError).
  """
  strengths = check_arguments(
      mode, num_outputs, temperature, max_batch_size, run_dir, input_midi_1,
      input_midi_2, variation, step_size, attributes)
  from midime_magenta import personalizer as personalizer_lib
  from midime_magenta import run_lib
  if config_name is not None:
    configs.get_config(config_name)  # Fail before any folder is made.
  batch_size = min(max_batch_size, max(num_outputs, 1))
  if run_dir:
    run_lib.read_model_info(run_dir)  # Fail before any folder is made.
  file_util.check_writable_dir(output_dir, '--output_dir')
  date_and_time = time.strftime('%Y-%m-%d_%H%M%S')
  rng = np.random.default_rng(seed)
  if run_dir:
    personalizer = personalizer_lib.Personalizer.load(
        run_dir, checkpoint_file, config=config_name, batch_size=batch_size)
  else:
    personalizer = personalizer_lib.Personalizer(
        config_name, checkpoint_file, batch_size=batch_size)
  config = personalizer.config
  music_vae = personalizer.music_vae
  if mode == 'prior':
    latents = {mode: music_vae.prior_latents(num_outputs, rng)}
  else:
    latents = _midime_latents(personalizer, mode, num_outputs, rng,
                              input_midi_1, input_midi_2, variation,
                              step_size)
  _prepare_steering(personalizer, strengths, constrain, run_dir)
  for label, z in latents.items():
    if not np.all(np.isfinite(z)):
      raise errors.UsageError(
          f'The model in {run_dir} gives non-finite latents (its weights are '
          'damaged or diverged); train it again.')
    latents[label] = personalizer.steer(z, strengths, constrain)
  slot_seconds = music_vae.chunk_seconds if concat_outputs else None
  written = []
  for label, z in latents.items():
    if mode == 'piece':
      basename = output_basename(config.name, label, date_and_time, 1)
      logging.info('Writing a piece of %d chunks (%d bars) as %s ...', len(z),
                   len(z) * music_vae.chunk_steps // 16, basename)
      written += _decode_and_write(music_vae, z, temperature, output_dir,
                                   basename, music_vae.chunk_seconds,
                                   piano_rolls, render_audio, only_concat=True)
      continue
    basename = output_basename(config.name, label, date_and_time, len(z))
    logging.info('Writing %d files as %s ...', len(z), basename)
    written += _decode_and_write(music_vae, z, temperature, output_dir,
                                 basename, slot_seconds, piano_rolls,
                                 render_audio)
  logging.info('Wrote %d files to %s.', len(written), output_dir)
  return written


def _prepare_steering(personalizer, strengths, constrain, run_dir):
  """Attribute vectors made (and saved) if needed; says what steers."""
  if strengths and personalizer.attributes is None:
    logging.info('Computing attribute vectors from MusicVAE\'s prior ...')
    vectors = personalizer.compute_attribute_vectors()
    if run_dir:
      from midime_magenta import attributes_lib
      from midime_magenta import run_lib
      run_lib.add_to_run(run_dir, 'attributes',
                         *attributes_lib.to_saved(vectors))
      logging.info('Saved them with the run in %s.', run_dir)
  if strengths:
    logging.info('Attributes: %s.', ', '.join(
        f'{k} {v:+g}' for k, v in strengths.items()))
  constraint = personalizer.constraint
  if constraint is not None:
    if constrain:
      logging.info('Applying the run\'s rule constraint (%s); '
                   '--noconstrain to leave it out.',
                   ', '.join(constraint.specs))
    else:
      logging.info('Leaving out the run\'s rule constraint (%s).',
                   ', '.join(constraint.specs))


def _decode_and_write(music_vae, z, temperature, output_dir, basename,
                      slot_seconds, piano_rolls, render_audio,
                      only_concat=False):
  """Decodes and writes `WRITE_BATCH` outputs at a time, with progress.

  Memory stays flat however many outputs are asked for, and what was
  written before a Ctrl-C is whole (each file is written atomically).
  With `only_concat` (a piece), only the concatenation is written, under
  `basename`'s first name.
  """
  written, kept = [], []
  with progress_lib.progress_bar(len(z), 'Generating', 'chunks' if only_concat
                                 else 'files') as bar:
    for first in range(0, len(z), WRITE_BATCH):
      sequences = music_vae.decode(z[first:first + WRITE_BATCH], temperature)
      if not only_concat:
        written += write_outputs(sequences, output_dir, basename, None,
                                 piano_rolls, render_audio, first_index=first)
      if slot_seconds:
        kept += sequences
      bar.update(len(sequences))
  if only_concat:
    written += write_outputs([concatenate_in_slots(kept, slot_seconds)],
                             output_dir, basename, None, piano_rolls,
                             render_audio)
  elif slot_seconds:
    written += write_outputs([], output_dir, basename, slot_seconds,
                             piano_rolls, render_audio, concat=kept)
  return written


def _midime_latents(personalizer, mode, num_outputs, rng, input_midi_1,
                    input_midi_2, variation=1.0, step_size=0.3):
  """The MidiMe modes' MusicVAE latents: {label: float32 [n, z_size]}."""
  midime = personalizer.midime
  if mode == 'sample':
    return {mode: midime.sample(num_outputs, seed=rng.integers(2**31),
                                variation=variation)}
  if mode == 'piece':
    return {mode: midime.walk(num_outputs, step_size,
                              seed=rng.integers(2**31), variation=variation)}
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
  return {f'traverse-dim{d + 1}': personalizer.traversal_latents(d, values)
          for d in range(midime.hparams.latent_size)}
