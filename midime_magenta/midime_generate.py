r"""Generates music from a MidiMe model trained by midime_train.

Reads like music_vae_generate: the same flags, defaults and file names, with
MidiMe's modes added.

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

  # Steer: busier and more in C (attribute vectors, any mode):
  midime_generate ... --attribute=note_density:+1.5 --attribute=c_diatonic:+1
  # After midime_constrain, outputs obey its rules; without them:
  midime_generate ... --noconstrain
"""

from absl import flags

from midime_magenta import script_util

FLAGS = flags.FLAGS
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
                     'process.')
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
  flags.DEFINE_boolean('constrain', True, 'Apply the run\'s rule constraint '
                       '(midime_constrain), when it has one.')
  flags.DEFINE_integer('max_batch_size', 8, 'The maximum batch size to use. '
                       'Decrease if you are seeing an OOM.', lower_bound=1,
                       upper_bound=4096)
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
  flags.DEFINE_boolean('render_audio', False, 'Write a WAV next to each MIDI '
                       'file (FluidSynth with a GM soundfont if installed, '
                       'else note_seq\'s synthesizer).')


def run():
  """Checks the flags and generates; raises the library's errors."""
  for name in ('checkpoint_file', 'output_dir'):
    script_util.require_flag(name, FLAGS[name].value)
  from midime_magenta import generate_lib  # pylint: disable=g-import-not-at-top
  return generate_lib.generate(
      FLAGS.config, FLAGS.checkpoint_file, FLAGS.run_dir, FLAGS.mode,
      FLAGS.num_outputs, FLAGS.output_dir, temperature=FLAGS.temperature,
      max_batch_size=FLAGS.max_batch_size, seed=FLAGS.seed,
      input_midi_1=FLAGS.input_midi_1, input_midi_2=FLAGS.input_midi_2,
      concat_outputs=FLAGS.concat_outputs, piano_rolls=FLAGS.piano_rolls,
      render_audio=FLAGS.render_audio, variation=FLAGS.variation,
      step_size=FLAGS.step_size, attributes=FLAGS.attribute,
      constrain=FLAGS.constrain)


def console_entry_point():
  script_util.run_console_script(define_flags, run)


if __name__ == '__main__':
  console_entry_point()
