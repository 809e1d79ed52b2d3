"""The bad-input corpus: both scripts, run for real, on every way input goes wrong.

Each case must end with a non-zero exit, exactly one error line naming the
cause, no traceback, and no change to any file that existed before. Cases run
two at a time (the machine has 2 cores); each is its own subprocess.
"""

import concurrent.futures
import glob
import hashlib
import importlib.util
import io
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import zipfile

import mido
import numpy as np
import pytest
import tensorflow as tf

from midime_magenta import errors
from midime_magenta import midi_io
from midime_magenta import personalizer as personalizer_lib
from midime_magenta import music_vae_lib
from midime_magenta import run_lib
from midime_testing import testdata_lib
from midime_testing import warm_scripts


def _load_model(path, expect_music_vae=None):
  """The MidiMe of a run folder."""
  return run_lib.load_run(path, expect_music_vae)[0]

BAD = testdata_lib.testdata_path('bad')
GOOD = testdata_lib.testdata_path('reel_4-4.mid')
TINY = testdata_lib.tiny_checkpoint('tiny-mel_2bar')


def _bad(name):
  return os.path.join(BAD, name)


# (case id, script, flag overrides, phrases the error line must contain).
# {ws} is the case's workspace folder (see `workspace`).
CASES = [
    ('missing_file', 'train', {'input_midi': '{ws}/no/such/tune.mid'},
     ['does not exist']),
    ('text_named_mid', 'train', {'input_midi': _bad('text_named.mid')},
     ['not a MIDI file']),
    ('empty_file', 'train', {'input_midi': _bad('empty.mid')},
     ['not a MIDI file']),
    ('truncated_midi', 'train', {'input_midi': _bad('truncated.mid')},
     ['damaged MIDI file']),
    ('no_notes', 'train', {'input_midi': _bad('no_notes.mid')},
     ['has no notes']),
    ('drums_only', 'train',
     {'input_midi': testdata_lib.testdata_path('drums_only.mid')},
     ['only drums', 'need a melody']),
    ('run_dir_of_other_files', 'train', {'run_dir': '{ws}/users_folder'},
     ['holds other files', 'no MidiMe run']),
    ('all_notes_out_of_range', 'train', {'input_midi': _bad('out_of_range.mid')},
     ['all 32 notes', 'outside the model\'s pitch range']),
    ('empty_directory', 'train', {'input_midi': '{ws}/empty_dir'},
     ['holds no .mid']),
    ('glob_matches_nothing', 'train', {'input_midi': '{ws}/empty_dir/*.mid'},
     ['No file matches']),
    ('wrong_config_for_checkpoint', 'train', {'config': 'cat-mel_2bar_small'},
     ['does not fit config cat-mel_2bar_small',
      'matches no known MusicVAE config']),
    ('directory_with_several_checkpoints', 'train',
     {'checkpoint_file': '{ws}/several'}, ['several checkpoints']),
    ('checkpoint_not_a_tar', 'train', {'checkpoint_file': _bad('not_a_tar.tar')},
     ['No MusicVAE checkpoint']),
    ('checkpoint_missing', 'train', {'checkpoint_file': '{ws}/no_ckpt'},
     ['No MusicVAE checkpoint']),
    ('nan_losses', 'train', {'hparams': 'learning_rate=1e9'},
     ['diverged', 'lower the learning rate']),
    ('unknown_config', 'train', {'config': 'mel_2bar'},
     ['Unknown config "mel_2bar"']),
    ('malformed_config_file', 'train', {'config': _bad('bad_config.json')},
     ['not readable JSON']),
    ('unparsable_hparams', 'train', {'hparams': 'latent_size'},
     ['cannot parse hparam']),
    ('zero_epochs', 'train', {'num_epochs': '0'},
     ['--num_epochs must be at least 1']),
    ('run_dir_under_a_file', 'train', {'run_dir': '{ws}/a_file/run'},
     ['Cannot create --run_dir']),
    ('missing_instrument', 'train', {'instrument': '7'},
     ['no pitched instrument 7']),
    # Round three: refused before any training, not after it.
    ('trio_flag_on_a_melody_model', 'train', {'melody_track': '1'},
     ['--melody_track picks a track of a trio', 'melody model']),
    ('attributes_from_a_file_without_notes', 'train',
     {'attributes_from': _bad('no_notes.mid')}, ['has no notes']),
    ('attributes_from_too_few_chunks', 'train',
     {'attributes_from': _bad('one_bar.mid')},
     ['Attribute vectors need at least 8 chunks', 'gave 1']),
    ('run_dir_without_model', 'generate', {'run_dir': '{ws}/empty_dir'},
     ['no MidiMe model']),
    ('corrupt_model_file', 'generate', {'run_dir': '{ws}/corrupt_run'},
     ['damaged']),
    ('corrupt_weights', 'generate', {'run_dir': '{ws}/bad_weights_run'},
     ['missing or damaged']),
    ('model_for_another_config', 'generate', {'run_dir': '{ws}/drums_run'},
     ['trained for config tiny-drums_2bar']),
    ('model_for_another_checkpoint', 'generate',
     {'checkpoint_file': '{ws}/retrained_ckpt'},
     ['The MidiMe model in', 'made with MusicVAE tiny-mel_2bar',
      'not with the tiny-mel_2bar']),
    ('unwritable_output_dir', 'generate', {'output_dir': '{ws}/a_file/out'},
     ['cannot be created']),
    ('zero_outputs', 'generate', {'num_outputs': '0'},
     ['--num_outputs=0', 'range [1, 100000]']),
    ('negative_outputs', 'generate', {'num_outputs': '-2'},
     ['--num_outputs=-2', 'range [1, 100000]']),
    ('unknown_mode', 'generate', {'mode': 'remix'},
     ['--mode', 'sample']),
    ('negative_temperature', 'generate', {'temperature': '-1'},
     ['--temperature must be a positive']),
    ('interpolate_without_inputs', 'generate', {'mode': 'interpolate'},
     ['needs --input_midi_1 and --input_midi_2']),
    ('interpolate_drums_only', 'generate',
     {'mode': 'interpolate', 'input_midi_1': GOOD,
      'input_midi_2': testdata_lib.testdata_path('drums_only.mid')},
     ['only drums']),
    # -- Round two (issue 17): files built to be hostile. ------------------
    # A user's folder, or a file, as --run_dir.
    ('run_dir_is_a_file', 'train', {'run_dir': '{ws}/a_file'},
     ['is a file, not a folder']),
    # Crafted midime.json.
    ('model_json_float_size', 'generate', {'run_dir': '{ws}/json_float'},
     ['damaged', 'input_size']),
    ('model_json_bool_latent', 'generate', {'run_dir': '{ws}/json_bool'},
     ['damaged', 'latent_size must be a whole number']),
    ('model_json_string_entry', 'generate', {'run_dir': '{ws}/json_string'},
     ['damaged', 'weights is not a dict']),
    ('model_json_huge_layer', 'generate', {'run_dir': '{ws}/json_huge'},
     ['damaged', 'each of encoder_layers must be a whole number from 1']),
    ('model_json_deeply_nested', 'generate', {'run_dir': '{ws}/json_nested'},
     ['damaged', 'RecursionError']),
    # Crafted weights and latents.
    ('npy_header_claims_terabytes', 'generate',
     {'run_dir': '{ws}/npy_huge'}, ['damaged', 'decoder_output.kernel']),
    ('weights_are_nan', 'generate', {'run_dir': '{ws}/weights_nan'},
     ['NaN or infinity']),
    ('latents_wrong_shape', 'generate',
     {'run_dir': '{ws}/latents_shape', 'mode': 'reconstruct'},
     ['damaged', 'z is']),
    ('latents_nan', 'generate',
     {'run_dir': '{ws}/latents_nan', 'mode': 'reconstruct'},
     ['training latents hold NaN']),
    # Crafted Magenta.js manifests.
    ('manifest_missing_shape', 'train_official',
     {'checkpoint_file': '{ws}/tfjs_no_shape'}, ['manifest', 'no valid shape']),
    ('manifest_negative_shape', 'train_official',
     {'checkpoint_file': '{ws}/tfjs_negative_shape'},
     ['manifest', 'no valid shape']),
    ('manifest_weight_is_string', 'train_official',
     {'checkpoint_file': '{ws}/tfjs_string_weight'},
     ['manifest', 'not an object']),
    ('manifest_integer_dtype', 'train_official',
     {'checkpoint_file': '{ws}/tfjs_int_dtype'},
     ['manifest', 'MusicVAE weights are float32']),
    ('tfjs_shard_missing', 'train_official',
     {'checkpoint_file': '{ws}/tfjs_shard_missing'},
     ['lacks group1-shard3of5', 'download the whole folder again']),
    # Damaged TF checkpoints.
    ('checkpoint_data_truncated', 'train',
     {'checkpoint_file': '{ws}/ckpt_truncated'}, ['damaged', 'again']),
    ('checkpoint_data_zeroed', 'train',
     {'checkpoint_file': '{ws}/ckpt_zeroed'}, ['damaged', 'again']),
    ('checkpoint_data_missing', 'train',
     {'checkpoint_file': '{ws}/ckpt_no_data'}, ['damaged', 'again']),
    # TFRecords of NoteSequences nobody checked.
    ('tfrecord_tempo_zero', 'train',
     {'input_midi': '{ws}/tempo_zero.tfrecord'}, ['a tempo of 0 qpm']),
    ('tfrecord_negative_tempo', 'train',
     {'input_midi': '{ws}/tempo_negative.tfrecord'}, ['a tempo of -120 qpm']),
    ('tfrecord_denominator_zero', 'train',
     {'input_midi': '{ws}/denominator_zero.tfrecord'},
     ['a time signature of 4/0']),
    # Flags.
    ('generate_negative_seed', 'generate', {'seed': '-3'},
     ['--seed=-3', 'range']),
    ('train_seed_beyond_int64', 'train', {'seed': str(2**70)},
     ['--seed', 'range']),
    ('outputs_beyond_int64', 'generate', {'num_outputs': str(2**70)},
     ['--num_outputs', 'range']),
    ('hparams_beyond_memory', 'train',
     {'hparams': 'encoder_layers=[16384,16384,16384,16384]'},
     ['weights, more than']),
    ('hparams_width_absurd', 'train',
     {'hparams': 'decoder_layers=[10000000]'},
     ['each of decoder_layers must be a whole number from 1']),
    ('log_garbage', 'train', {'log': 'garbage'}, ['--log=garbage']),
    ('evaluate_log_garbage', 'evaluate', {'log': 'loud'}, ['--log=loud']),
    # Folders and odd paths.
    ('folder_of_only_bad_files', 'train', {'input_midi': '{ws}/all_bad'},
     ['None of the 3 inputs', 'not a MIDI file', 'not a regular file']),
    ('symlink_to_endless_device', 'train', {'input_midi': '{ws}/zero.mid'},
     ['not a regular file']),
    ('self_looping_symlink', 'train', {'input_midi': '{ws}/loop.mid'},
     ['does not exist']),
    ('name_not_utf8', 'train',
     {'input_midi': '{ws}/' + os.fsdecode(b'bad-\xff.mid')},
     ['not a MIDI file', '\\udcff']),
    ('name_with_newline', 'train',
     {'input_midi': '{ws}/two\nmidime_train: error: forged.mid'},
     ['not a MIDI file']),
    # midime_evaluate.
    ('evaluate_temperature_zero', 'evaluate', {'temperature': '0'},
     ['--temperature must be a positive']),
    ('evaluate_zero_samples', 'evaluate', {'num_samples': '0'},
     ['--num_samples must be at least 1']),
    # Checkpoint tables and config files.
    ('checkpoint_table_deeply_nested', 'train',
     {'checkpoint_file': 'no_such_name', '_env': {
         'MIDIME_CHECKPOINT_TABLE': '{ws}/nested_table.json'}},
     ['MIDIME_CHECKPOINT_TABLE', 'recursion']),
    ('checkpoint_table_name_escapes', 'train',
     {'checkpoint_file': 'no_such_name', '_env': {
         'MIDIME_CHECKPOINT_TABLE': '{ws}/escaping_table.json'}},
     ['MIDIME_CHECKPOINT_TABLE', 'may hold only letters']),
    ('config_name_escapes', 'generate',
     {'config': '{ws}/escaping_config.json'}, ['may hold only letters']),
    # (Python 3.11 runs out of recursion, 3.13 reads it: one line either way.)
    ('config_deeply_nested', 'train',
     {'config': '{ws}/nested_config.json'}, ['nested_config.json']),
    # Messages that used to mislead.
    ('smpte_time_division', 'train', {'input_midi': '{ws}/smpte.mid'},
     ['SMPTE', 'ticks per quarter note']),
    ('zero_length_notes', 'train', {'input_midi': '{ws}/zero_length.mid'},
     ['all its 32 notes have zero length']),
    ('diverging_advice_is_lower', 'train', {'hparams': 'learning_rate=1e9'},
     ['from 1e+09 to 1e+08']),
    # Round three: crafted encodings (midime_train --input_encoded).
    ('encoded_shard_is_a_fifo', 'train_encoded',
     {'input_encoded': '{ws}/enc_fifo'}, ['not a regular file']),
    ('encoded_manifest_is_a_folder', 'train_encoded',
     {'input_encoded': '{ws}/enc_manifest_folder'}, ['not a regular file']),
    ('encoded_over_http', 'train_encoded',
     {'input_encoded': 'http://127.0.0.1:9/encoded'},
     ['cannot read http:// addresses']),
    ('encoded_shard_missing', 'train_encoded',
     {'input_encoded': '{ws}/enc_no_shard'}, ['is missing', 'encode again']),
    ('encoded_manifest_not_json', 'train_encoded',
     {'input_encoded': '{ws}/enc_bad_json'}, ['damaged', 'encode again']),
    ('encoded_chunk_count_wrong', 'train_encoded',
     {'input_encoded': '{ws}/enc_count'}, ['hold 30 chunks', 'says 31']),
    ('encoded_shard_name_escapes', 'train_encoded',
     {'input_encoded': '{ws}/enc_escape'}, ['not shard names']),
    ('encoded_for_another_music_vae', 'train',
     {'input_midi': '', 'input_encoded': '{ws}/enc_good'},
     ['The encoding in', 'made with MusicVAE cat-mel_2bar_small',
      'encode again']),
    ('encoded_folder_as_run_dir', 'generate', {'run_dir': '{ws}/enc_good'},
     ['is an encoding', '--input_encoded']),
    # Round three: one file of 100,000 chunks is refused, not minutes long.
    ('piece_of_100000_chunks', 'generate',
     {'mode': 'piece', 'num_outputs': '100000'},
     ['A piece holds at most 2048 chunks', '100000 were asked']),
    ('concat_of_100000_outputs', 'generate',
     {'num_outputs': '100000', 'concat_outputs': 'true'},
     ['--concat_outputs\'s file holds at most 2048']),
    # Round three: midime_encode refuses before any file is read.
    ('encode_unknown_runner', 'encode',
     {'pipeline_options': '--runner=Bogus'}, ['runner Bogus', 'no such runner']),
    ('encode_dataflow_without_its_options', 'encode',
     {'pipeline_options': '--runner=DataflowRunner'},
     ['DataflowRunner', 'Missing required option: project']),
    ('encode_output_over_http', 'encode',
     {'output_dir': 'http://127.0.0.1:9/encoded'},
     ['--output_dir', 'no filesystem for http://']),
    ('encode_input_over_ftp', 'encode',
     {'input_midi': 'ftp://127.0.0.1:9/tunes'},
     ['--input_midi', 'no filesystem for ftp://']),
    ('encode_output_under_a_file', 'encode',
     {'output_dir': '{ws}/a_file/encoded'}, ['Cannot create --output_dir']),
    ('encode_output_holds_an_encoding', 'encode',
     {'output_dir': '{ws}/enc_good'}, ['already holds an encoding']),
    ('encode_input_missing', 'encode',
     {'input_midi': '{ws}/no/such/tunes'}, ['does not exist']),
    ('encode_config_not_fitting_checkpoint', 'encode',
     {'config': testdata_lib.tiny_config('tiny-mel_2bar')},
     ['does not fit config']),
    ('encode_trio_flag_on_a_melody_model', 'encode', {'melody_track': '1'},
     ['--melody_track picks a track of a trio']),
    ('encode_zero_batch', 'encode', {'max_batch_size': '0'},
     ['--max_batch_size']),
    ('encode_hop_of_zero_bars', 'encode', {'hop_bars': '0'}, ['--hop_bars']),
    # Round three: more flags refused before work.
    ('train_hop_of_zero_bars', 'train', {'hop_bars': '0'}, ['--hop_bars']),
    ('train_midi_and_encoded_both', 'train',
     {'input_encoded': '{ws}/enc_good'}, ['one of them']),
    ('generate_temperature_nan', 'generate', {'temperature': 'nan'},
     ['--temperature must be a positive number']),
    ('generate_unknown_attribute', 'generate',
     {'attribute': 'loudness:1'}, ['Unknown attribute']),
    ('constrain_zero_iterations', 'constrain', {'iterations': '0'},
     ['--iterations']),
    ('constrain_run_missing', 'constrain', {'run_dir': '{ws}/empty_dir'},
     ['no MidiMe model']),
    # Round three: rules refused when given (a run is always loadable).
    ('constrain_rule_too_long', 'constrain',
     {'rule': 'key:' + 'C' * 120}, ['characters']),
    ('constrain_too_many_rules', 'constrain',
     {'rule': [f'pitch:{40 + k}-100' for k in range(17)]},
     ['17 rules were given']),
    ('constrain_range_downwards', 'constrain', {'rule': 'density:5-3'},
     ['must run upwards']),
    ('constrain_key_and_pitch_disjoint', 'constrain',
     {'rule': ['key:C', 'pitch:61-61']}, ['No chunk obeys']),
    ('constrain_no_density', 'constrain', {'rule': 'density:0-0'},
     ['No chunk obeys', 'density of 0']),
    ('constrain_unreadable_rule', 'constrain', {'rule': 'tempo:fast'},
     ['Cannot read rule']),
    ('constrain_no_rule', 'constrain', {'rule': []},
     ['Give at least one --rule']),
    ('constrain_an_encoding', 'constrain', {'run_dir': '{ws}/enc_good'},
     ['is an encoding']),
    ('constrain_drum_run_pitch_rule', 'constrain',
     {'run_dir': '{ws}/drums_run', 'rule': 'key:C',
      'config': testdata_lib.tiny_config('tiny-drums_2bar'),
      'checkpoint_file': testdata_lib.tiny_checkpoint('tiny-drums_2bar')},
     ['about pitches', 'drum']),
    # Round four: what the reader takes trains and generates; the rest is
    # refused here, before any work.
    ('tfrecord_program_200', 'train',
     {'input_midi': '{ws}/program_200.tfrecord'}, ['a note on program 200']),
    ('tfrecord_program_negative', 'train',
     {'input_midi': '{ws}/program_negative.tfrecord'},
     ['a note on program -1']),
    ('tfrecord_tempo_beyond_the_reader', 'train',
     {'input_midi': '{ws}/tempo_20000.tfrecord'}, ['a tempo of 20000 qpm']),
    ('checkpoint_path_not_utf8', 'train',
     {'checkpoint_file': '{ws}/' + os.fsdecode(b'ckpt-\xff')},
     ['only paths that are UTF-8', 'ckpt-\\udcff']),
]


def _snapshot(*roots):
  state = {}
  for root in roots:
    for folder, _, files in os.walk(root):
      for name in files:
        path = os.path.join(folder, name)
        if os.path.islink(path) or not os.path.isfile(path):
          continue  # FIFOs, devices and looping links are not read.
        with open(path, 'rb') as f:
          state[path] = hashlib.sha256(f.read()).hexdigest()
  return state


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
  """Models, checkpoints and odd paths the cases point at."""
  ws = tmp_path_factory.mktemp('ws')
  (ws / 'empty_dir').mkdir()
  (ws / 'runs').mkdir()  # Shared parent of the train cases' run folders.
  (ws / 'a_file').write_text('a file where a folder should be')
  (ws / 'users_folder').mkdir()
  (ws / 'users_folder' / 'weights-best.npz').write_bytes(b'their weights')
  several = ws / 'several'
  several.mkdir()
  for step in (1, 2):
    for suffix in ('.index', '.data-00000-of-00001'):
      shutil.copy(os.path.join(TINY, 'model.ckpt' + suffix),
                  several / f'model.ckpt-{step}{suffix}')
  vae = music_vae_lib.load_music_vae(
      testdata_lib.tiny_config('tiny-mel_2bar'), TINY, batch_size=8)
  p = personalizer_lib.Personalizer(testdata_lib.tiny_config('tiny-mel_2bar'), music_vae=vae)
  p.train(GOOD, epochs=2, seed=0)
  p.save(str(ws / 'good_run'))
  shutil.copytree(ws / 'good_run', ws / 'corrupt_run')
  (ws / 'corrupt_run' / 'midime.json').write_text('{"format": "midime_magen')
  shutil.copytree(ws / 'good_run', ws / 'bad_weights_run')
  for f in (ws / 'bad_weights_run').glob('weights-*.npz'):
    f.write_bytes(f.read_bytes()[:100])
  drums_config = testdata_lib.tiny_config('tiny-drums_2bar')
  drums = personalizer_lib.Personalizer(
      drums_config, music_vae=music_vae_lib.load_music_vae(
          drums_config, testdata_lib.tiny_checkpoint('tiny-drums_2bar'), 8))
  drums.train(testdata_lib.testdata_path('drums_only.mid'), epochs=2, seed=0)
  drums.save(str(ws / 'drums_run'))
  # Same shapes as the tiny checkpoint, other weights: another fingerprint.
  reader = tf.train.load_checkpoint(os.path.join(TINY, 'model.ckpt'))
  names = sorted(reader.get_variable_to_shape_map())
  (ws / 'retrained_ckpt').mkdir()
  tf.raw_ops.SaveV2(
      prefix=str(ws / 'retrained_ckpt' / 'model.ckpt'), tensor_names=names,
      shape_and_slices=[''] * len(names),
      tensors=[reader.get_tensor(n) + (0.01 if 'bias' in n else 0)
               for n in names])
  _hostile_files(ws)
  return ws


def _rewrite_run(ws, source, name, change_manifest=None, weights=None,
                 latents=None, raw_json=None):
  """Copies a run, then crafts its manifest or arrays (hashes kept valid)."""
  folder = ws / name
  shutil.copytree(ws / source, folder)
  manifest = json.loads((folder / 'midime.json').read_text())
  for key, arrays in (('weights', weights), ('latents', latents)):
    if arrays is None:
      continue
    path = folder / manifest[key]['file']
    with np.load(path) as npz:
      values = {k: npz[k] for k in npz.files}
    values.update(arrays(values))
    np.savez(path, **values)
    manifest[key]['sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
  if change_manifest:
    change_manifest(manifest)
  (folder / 'midime.json').write_text(
      raw_json if raw_json is not None else json.dumps(manifest))


def _huge_npy_header(values):
  """decoder_output.kernel re-written with a header claiming ~4 TB."""
  buffer = io.BytesIO()
  np.lib.format.write_array_header_1_0(buffer, {
      'descr': '<f4', 'fortran_order': False, 'shape': (1 << 20, 1 << 20)})
  return {'decoder_output.kernel': np.frombuffer(
      buffer.getvalue() + values['decoder_output.kernel'].tobytes(),
      np.uint8)}


def _note_sequence_records(path, change):
  ns = midi_io.read_midi_file(GOOD)
  change(ns)
  with tf.io.TFRecordWriter(str(path)) as writer:
    writer.write(ns.SerializeToString())


def _hostile_files(ws):
  """The round-two corpus: crafted runs, manifests, checkpoints, inputs."""
  def set_path(*keys, value):
    def change(manifest):
      target = manifest
      for key in keys[:-1]:
        target = target[key]
      target[keys[-1]] = value
    return change
  _rewrite_run(ws, 'good_run', 'json_float',
               set_path('input_size', value=32.5))
  _rewrite_run(ws, 'good_run', 'json_bool',
               set_path('hparams', 'latent_size', value=True))
  _rewrite_run(ws, 'good_run', 'json_string', set_path('weights', value='abc'))
  _rewrite_run(ws, 'good_run', 'json_huge',
               set_path('hparams', 'encoder_layers', value=[10_000_000]))
  _rewrite_run(ws, 'good_run', 'json_nested',
               raw_json='[' * 50_000 + ']' * 50_000)
  _rewrite_run(ws, 'good_run', 'npy_huge', weights=_huge_npy_header)
  # np.savez of a raw uint8 blob writes its own header; write the crafted
  # member by hand instead.
  npy_huge = ws / 'npy_huge'
  manifest = json.loads((npy_huge / 'midime.json').read_text())
  path = npy_huge / manifest['weights']['file']
  with np.load(path) as npz:
    members = {k: npz[k] for k in npz.files}
  with zipfile.ZipFile(path, 'w') as archive:
    for key, value in members.items():
      if key == 'decoder_output.kernel':
        archive.writestr(f'{key}.npy', value.tobytes())
      else:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, value)
        archive.writestr(f'{key}.npy', buffer.getvalue())
  manifest['weights']['sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
  (npy_huge / 'midime.json').write_text(json.dumps(manifest))
  _rewrite_run(ws, 'good_run', 'weights_nan', weights=lambda v: {
      'encoder_mu.bias': np.full_like(v['encoder_mu.bias'], np.nan)})
  _rewrite_run(ws, 'good_run', 'latents_shape', latents=lambda v: {
      'z': v['z'][:, :7]})
  _rewrite_run(ws, 'good_run', 'latents_nan', latents=lambda v: {
      'z': np.full_like(v['z'], np.nan)})
  # Magenta.js manifests: the official layout with one entry spoiled.
  official = testdata_lib.shared_path('checkpoints', 'mel_2bar_small_tfjs')
  spoilers = {
      'tfjs_no_shape': lambda w: w.pop('shape'),
      'tfjs_negative_shape': lambda w: w.update(shape=[-256]),
      'tfjs_string_weight': None,
      'tfjs_int_dtype': lambda w: w.update(dtype='int32'),
  }
  for name, spoil in spoilers.items():
    folder = ws / name
    folder.mkdir()
    if official is None:
      continue  # The case then fails on the missing folder, in CI too.
    for f in os.listdir(official):
      if f != 'weights_manifest.json':
        os.symlink(os.path.join(official, f), folder / f)
    manifest = json.loads(
        open(os.path.join(official, 'weights_manifest.json')).read())
    if spoil is None:
      manifest[0]['weights'][0] = 'encoder/sigma/bias'
    else:
      spoil(manifest[0]['weights'][0])
    (folder / 'weights_manifest.json').write_text(json.dumps(manifest))
  if official is not None:  # Round two's last case: a shard not there.
    (ws / 'tfjs_shard_missing').mkdir()
    for f in os.listdir(official):
      if f != 'group1-shard3of5':
        os.symlink(os.path.join(official, f), ws / 'tfjs_shard_missing' / f)
  # Damaged TF checkpoints (copies of the tiny one).
  data = 'model.ckpt.data-00000-of-00001'
  for name, damage in (
      ('ckpt_truncated', lambda p: p.write_bytes(p.read_bytes()[:1000])),
      ('ckpt_zeroed', lambda p: p.write_bytes(bytes(p.stat().st_size))),
      ('ckpt_no_data', lambda p: p.unlink())):
    shutil.copytree(TINY, ws / name)
    damage(ws / name / data)
  # TFRecords of NoteSequences with impossible timing.
  _note_sequence_records(ws / 'tempo_zero.tfrecord',
                         lambda ns: setattr(ns.tempos[0], 'qpm', 0.0))
  _note_sequence_records(ws / 'tempo_negative.tfrecord',
                         lambda ns: setattr(ns.tempos[0], 'qpm', -120.0))
  _note_sequence_records(
      ws / 'denominator_zero.tfrecord',
      lambda ns: ns.time_signatures.add(time=0.0, numerator=4, denominator=0))
  for name, program in (('program_200', 200), ('program_negative', -1)):
    _note_sequence_records(ws / f'{name}.tfrecord', lambda ns, p=program: (
        setattr(ns.notes[3], 'program', p)))
  _note_sequence_records(ws / 'tempo_20000.tfrecord',
                         lambda ns: setattr(ns.tempos[0], 'qpm', 20000.0))
  shutil.copytree(TINY, str(ws / os.fsdecode(b'ckpt-\xff')))
  # Folders and odd paths.
  (ws / 'all_bad').mkdir()
  (ws / 'all_bad' / 'a.mid').write_text('not midi')
  (ws / 'all_bad' / 'b.mid').write_bytes(b'RIFF....')
  os.mkfifo(ws / 'all_bad' / 'c.mid')
  os.symlink('/dev/zero', ws / 'zero.mid')
  os.symlink(ws / 'loop.mid', ws / 'loop.mid')
  with open(os.path.join(os.fsencode(str(ws)), b'bad-\xff.mid'), 'wb') as f:
    f.write(b'not midi')
  (ws / 'two\nmidime_train: error: forged.mid').write_text('not midi')
  # Checkpoint tables and config files.
  (ws / 'nested_table.json').write_text('[' * 50_000 + ']' * 50_000)
  (ws / 'escaping_table.json').write_text(json.dumps([{
      'name': '../../escaped', 'kind': 'tfjs', 'url': 'http://127.0.0.1:9/x',
      'config': 'cat-mel_2bar_small'}]))
  (ws / 'escaping_config.json').write_text(json.dumps({
      'name': '../../../escaped', 'music_vae_config': 'cat-mel_2bar_small'}))
  (ws / 'nested_config.json').write_text('{"a":' * 5_000 + '1' + '}' * 5_000)
  # Encodings (the golden one of 0.1.0, official mel_2bar_small) spoiled.
  golden = testdata_lib.testdata_path('golden', 'encoded_v1')
  shard = 'encoded-00001-of-00002.tfrecord'
  for name in ('enc_good', 'enc_fifo', 'enc_manifest_folder', 'enc_no_shard',
               'enc_bad_json', 'enc_count', 'enc_escape'):
    shutil.copytree(golden, ws / name)
  (ws / 'enc_fifo' / shard).unlink()
  os.mkfifo(ws / 'enc_fifo' / shard)
  (ws / 'enc_manifest_folder' / 'manifest.json').unlink()
  (ws / 'enc_manifest_folder' / 'manifest.json').mkdir()
  (ws / 'enc_no_shard' / shard).unlink()
  (ws / 'enc_bad_json' / 'manifest.json').write_text('{"format": "midime_ma')
  for name, key, value in (('enc_count', 'chunks', 31),
                           ('enc_escape', 'shards', ['../../escaped'])):
    manifest = json.loads((ws / name / 'manifest.json').read_text())
    manifest[key] = value
    (ws / name / 'manifest.json').write_text(json.dumps(manifest))
  # MIDI that misled: SMPTE timing, and notes of zero length.
  midi = bytearray(open(GOOD, 'rb').read())
  midi[12], midi[13] = 0xE7, 0x28  # -25 fps, 40 ticks per frame.
  (ws / 'smpte.mid').write_bytes(bytes(midi))
  zero = mido.MidiFile(ticks_per_beat=480)
  track = mido.MidiTrack()
  zero.tracks.append(track)
  for i in range(32):  # Every note-off on its note-on's tick.
    track.append(mido.Message('note_on', note=60 + i % 12, velocity=80,
                              time=0 if i == 0 else 240))
    track.append(mido.Message('note_off', note=60 + i % 12, time=0))
  zero.save(str(ws / 'zero_length.mid'))


def _command(script, overrides, ws, case_id):
  overrides = dict(overrides)
  overrides.pop('_env', None)
  if script == 'train':
    flags = {'config': testdata_lib.tiny_config('tiny-mel_2bar'), 'checkpoint_file': TINY,
             'input_midi': GOOD, 'run_dir': f'{ws}/runs/{case_id}',
             'num_epochs': '200'}
  elif script == 'train_official':
    flags = {'config': 'cat-mel_2bar_small', 'input_midi': GOOD,
             'run_dir': f'{ws}/runs/{case_id}', 'num_epochs': '5'}
  elif script == 'train_encoded':
    flags = {'config': 'cat-mel_2bar_small',
             'checkpoint_file': testdata_lib.official_mel_2bar_small(),
             'input_midi': '', 'run_dir': f'{ws}/runs/{case_id}',
             'num_epochs': '5'}
  elif script == 'encode':
    flags = {'config': 'cat-mel_2bar_small',
             'checkpoint_file': testdata_lib.official_mel_2bar_small(),
             'input_midi': GOOD, 'output_dir': f'{ws}/out/{case_id}'}
  elif script == 'constrain':
    flags = {'config': testdata_lib.tiny_config('tiny-mel_2bar'),
             'checkpoint_file': TINY, 'run_dir': f'{ws}/good_run',
             'rule': 'key:C', 'iterations': '5'}
  elif script == 'evaluate':
    flags = {'config': testdata_lib.tiny_config('tiny-mel_2bar'), 'checkpoint_file': TINY,
             'run_dir': f'{ws}/good_run', 'input_midi': GOOD,
             'output_dir': f'{ws}/out/{case_id}'}
  else:
    flags = {'config': testdata_lib.tiny_config('tiny-mel_2bar'), 'checkpoint_file': TINY,
             'run_dir': f'{ws}/good_run', 'output_dir': f'{ws}/out/{case_id}',
             'mode': 'sample'}
  flags.update(overrides)
  args = [f'--{k}={str(v).replace("{ws}", str(ws))}' for k, values in
          flags.items() for v in (values if isinstance(values, list) else
                                  [values])]
  name = {'train': 'midime_train', 'train_official': 'midime_train',
          'train_encoded': 'midime_train', 'encode': 'midime_encode',
          'constrain': 'midime_constrain',
          'evaluate': 'midime_evaluate'}.get(script, 'midime_generate')
  return name, args


@pytest.fixture(scope='module')
def outcomes(workspace):
  """Runs every case, two at a time; returns results and snapshots."""
  before = _snapshot(str(workspace), BAD)
  # Two lanes (the machine has 2 cores), each one warm process that runs its
  # cases in turn (see warm_scripts); a case that sets the environment gets a
  # process of its own, as start-up reads it.
  lanes = [warm_scripts.WarmScripts(), warm_scripts.WarmScripts()]

  def run_lane(lane, cases):
    results = {}
    for case_id, script, overrides, _ in cases:
      name, args = _command(script, overrides, workspace, case_id)
      env = {k: v.replace('{ws}', str(workspace))
             for k, v in overrides.get('_env', {}).items()}
      run = (testdata_lib.run_installed_script if env else lane.run)
      results[case_id] = run(name, *args, env=env, timeout=300)
    return results

  with lanes[0], lanes[1], concurrent.futures.ThreadPoolExecutor(2) as pool:
    halves = [pool.submit(run_lane, lane, CASES[k::2])
              for k, lane in enumerate(lanes)]
    results = {**halves[0].result(), **halves[1].result()}
  return results, before, _snapshot(str(workspace), BAD)


def test_corpus_is_large_enough():
  assert len(CASES) >= 60
  assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize('case_id, script, overrides, phrases', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line(outcomes, case_id, script, overrides,
                                       phrases):
  del overrides
  result = outcomes[0][case_id]
  assert result.returncode != 0, result.stderr
  assert 'Traceback' not in result.stderr, result.stderr
  errors = testdata_lib.error_lines(result.stderr)
  assert len(errors) == 1, result.stderr
  # The tiny test configs are files (testdata/configs), not registered
  # names: a case that stopped at the config would test nothing else.
  assert 'Unknown config' not in errors[0] or case_id == 'unknown_config'
  if (script == 'encode' and 'needs Apache Beam' in errors[0] and
      importlib.util.find_spec('apache_beam') is None):
    return  # The Colab copy has no beam extra: past the flags, this is all.
  for phrase in phrases:
    assert phrase in errors[0], errors[0]


def test_no_existing_file_was_changed(outcomes, workspace):
  _, before, after = outcomes
  changed = [p for p in before if after.get(p) != before[p]]
  assert not changed
  assert not os.listdir(workspace / 'runs')  # No failed run left a trace.
  outs = workspace / 'out'
  assert not outs.exists() or not any(
      files for _, _, files in os.walk(outs))


def test_bad_model_files_are_refused_in_python_too(workspace):
  with pytest.raises(run_lib.ModelFileError):
    _load_model(str(workspace / 'corrupt_run'))
  assert np.all(np.isfinite(_load_model(
      str(workspace / 'good_run')).sample(2, seed=0)))


# -- Round four: tempo edges, diagnostics, names, the API --------------------


def _clean_success(result):
  assert result.returncode == 0, result.stderr
  assert 'Traceback' not in result.stderr, result.stderr
  assert not testdata_lib.error_lines(result.stderr), result.stderr
  return result


def _tempos_written(folder):
  """{file: its set_tempo values} of the MIDI files in `folder`."""
  return {name: [m.tempo for track in mido.MidiFile(
      os.path.join(folder, name)).tracks for m in track
                 if m.type == 'set_tempo']
          for name in sorted(os.listdir(folder)) if name.endswith('.mid')}


def _reel_at(path, microseconds):
  """The reel with every tempo set to `microseconds` a quarter."""
  midi = mido.MidiFile(GOOD)
  for track in midi.tracks:
    for message in track:
      if message.type == 'set_tempo':
        message.tempo = microseconds
  midi.save(str(path))
  return str(path)


# 2,000 qpm (the reader takes up to 10,000; the voicing took 1,000), and
# MIDI's slowest tempo, 0xFFFFFF us a quarter (3.58 qpm).
@pytest.mark.parametrize('microseconds, written', [
    (30_000, 30_000), (0xFFFFFF, round(60e6 / 3.577))])
def test_tempo_edges_train_and_generate(tmp_path, microseconds, written):
  tune = _reel_at(tmp_path / 'tune.mid', microseconds)
  flags = [f'--config={testdata_lib.tiny_config("tiny-mel_2bar")}',
           f'--checkpoint_file={TINY}', f'--run_dir={tmp_path}/run']
  _clean_success(warm_scripts.run('midime_train', *flags,
                                  f'--input_midi={tune}', '--num_epochs=2'))
  _clean_success(warm_scripts.run('midime_generate', *flags,
                                  f'--output_dir={tmp_path}/out',
                                  '--num_outputs=2'))
  tempos = _tempos_written(tmp_path / 'out')
  assert len(tempos) == 2
  assert all(t == [pytest.approx(written, abs=1)] for t in tempos.values())


def test_a_saved_voicing_beyond_midi_is_written_clamped(workspace, tmp_path):
  """A run of 0.2.0 at MIDI's slowest tempo saved 3.576 qpm, beyond MIDI's
  range; a crafted one may hold any program: generating writes them all."""
  def voicing(manifest):
    manifest['summary']['voicing'] = {'qpm': 3.576, 'melody_program': 200,
                                      'bass_program': -1}
  _rewrite_run(workspace, 'good_run', 'slow_voicing', voicing)
  name, args = _command('generate', {'run_dir': '{ws}/slow_voicing',
                                     'output_dir': str(tmp_path / 'out')},
                        workspace, 'slow_voicing')
  _clean_success(warm_scripts.run(name, *args))
  played = 0
  for path in glob.glob(str(tmp_path / 'out' / '*.mid')):
    midi = mido.MidiFile(path)
    assert [m.tempo for t in midi.tracks for m in t
            if m.type == 'set_tempo'] == [pytest.approx(60e6 / 3.577, abs=1)]
    # The tiny model can decode a sample with no notes; its file holds only
    # the default program_change 0 that MIDI writers give an empty track.
    if any(m.type == 'note_on' for t in midi.tracks for m in t):
      played += 1
      assert {m.program for t in midi.tracks for m in t
              if m.type == 'program_change'} == {127}, path
  assert played


def _script(name):
  return os.path.join(os.path.dirname(sys.executable), name)


def _run_fresh(argv, env=None, **kwargs):
  """The script in a process of its own (its environment and fds matter)."""
  return subprocess.run(argv, **{'capture_output': True, **kwargs},
                        text=True, timeout=300,
                        env=dict(os.environ, **(env or {})), check=False)


@pytest.fixture
def spans_targets(tmp_path):
  """MIDIME_SPANS targets that are not a file of its own to write."""
  targets = {'a FIFO': tmp_path / 'fifo', 'a folder': tmp_path / 'folder',
             'a link': tmp_path / 'link.json',
             'in a missing folder': tmp_path / 'missing' / 'spans.json'}
  os.mkfifo(targets['a FIFO'])
  targets['a folder'].mkdir()
  (tmp_path / 'kept.json').write_text('the user\'s file')
  os.symlink(tmp_path / 'kept.json', targets['a link'])
  if os.geteuid() == 0:  # Only root makes device nodes: /dev/full's twin.
    targets['a device'] = tmp_path / 'full'
    os.mknod(targets['a device'], 0o666 | stat.S_IFCHR, os.makedev(1, 7))
  return targets


def test_spans_never_replace_what_is_not_their_own_file(spans_targets,
                                                         tmp_path):
  before = {k: os.lstat(p).st_mode if os.path.lexists(p) else None
            for k, p in spans_targets.items()}
  for what, path in spans_targets.items():
    result = _clean_success(_run_fresh([_script('midime_checkpoints')],
                                       env={'MIDIME_SPANS': str(path)}))
    warnings = [line for line in result.stderr.splitlines()
                if 'MIDIME_SPANS' in line]
    assert len(warnings) == 1 and 'not written' in warnings[0], (
        what, result.stderr)
    assert 'mel_2bar_small' in result.stdout  # The listing, all of it.
  after = {k: os.lstat(p).st_mode if os.path.lexists(p) else None
           for k, p in spans_targets.items()}
  assert after == before
  assert (tmp_path / 'kept.json').read_text() == 'the user\'s file'
  assert not [n for n in os.listdir(tmp_path) if 'tmp' in n]


def test_spans_on_a_full_disk_are_a_warning(tmp_path):
  """A file-size limit of 10 bytes fails the write as a full disk does."""
  def limit():
    resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))
  result = _clean_success(_run_fresh(
      [_script('midime_checkpoints')],
      env={'MIDIME_SPANS': str(tmp_path / 'spans.json')},
      preexec_fn=limit))
  assert 'MIDIME_SPANS: the spans were not written' in result.stderr
  assert os.listdir(tmp_path) == []


def test_spans_are_written_atomically_over_a_file(tmp_path, workspace):
  path = tmp_path / 'spans.json'
  path.write_text('an older run\'s spans')
  name, args = _command('generate', {'output_dir': str(tmp_path / 'out')},
                        workspace, 'spans')
  _clean_success(_run_fresh([_script(name), *args],
                            env={'MIDIME_SPANS': str(path)}))
  assert json.loads(path.read_text())['spans']['imports'] > 0
  assert len(glob.glob(str(tmp_path / 'out' / '*.mid'))) == 5
  assert sorted(os.listdir(tmp_path)) == ['out', 'spans.json']


@pytest.mark.parametrize('closed', ['>&-', '2>&-'])
def test_a_closed_stdout_or_stderr_leaves_a_finished_run(tmp_path, workspace,
                                                         closed):
  name, args = _command('generate', {'output_dir': str(tmp_path / 'out')},
                        workspace, 'closed')
  result = _run_fresh(['bash', '-c', f'exec "$0" "$@" {closed}',
                       _script(name), *args])
  assert result.returncode == 0, result.stderr
  assert 'Traceback' not in result.stderr
  assert len(glob.glob(str(tmp_path / 'out' / '*.mid'))) == 5
  listing = _run_fresh(['bash', '-c', f'exec "$0" {closed}',
                        _script('midime_checkpoints')])
  assert listing.returncode == 0 and 'Traceback' not in listing.stderr


SCRIPTS = ['midime_train', 'midime_generate', 'midime_evaluate',
           'midime_encode', 'midime_constrain', 'midime_checkpoints',
           'midime_studio']


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_into_a_closed_pipe_has_no_traceback(script):
  """`--help | head -n 1`, with the reader gone before the first write."""
  read, write = os.pipe()
  os.close(read)
  try:
    result = _run_fresh([_script(script), '--help'], stdout=write,
                        stderr=subprocess.PIPE, capture_output=False)
  finally:
    os.close(write)
  assert result.returncode == 0, result.stderr
  assert result.stderr == ''


@pytest.mark.parametrize('env, run_name, out_name', [
    # LANG=C with Python's UTF-8 mode (its default there): a name of
    # Latin-1 bytes arrives with surrogates.
    ({'LANG': 'C', 'LC_ALL': 'C'}, b'r\xe9n', b'sorti\xe9'),
    # LANG=C without it: every non-ASCII byte is a surrogate.
    ({'LANG': 'C', 'LC_ALL': 'C', 'PYTHONUTF8': '0'}, 'rün'.encode(),
     'sortie-ü'.encode()),
])
def test_non_ascii_folders_under_lang_c(tmp_path, env, run_name, out_name):
  root = os.fsencode(str(tmp_path))
  run_dir, out_dir = (os.path.join(root, run_name),
                      os.path.join(root, out_name))
  tiny = [b'--config=' + os.fsencode(testdata_lib.tiny_config('tiny-mel_2bar')),
          b'--checkpoint_file=' + os.fsencode(TINY), b'--run_dir=' + run_dir]
  for argv in ([b'midime_train', b'--input_midi=' + os.fsencode(GOOD),
                b'--num_epochs=2'],
               [b'midime_generate', b'--output_dir=' + out_dir]):
    result = subprocess.run([os.fsencode(_script(argv[0].decode())), *tiny,
                             *argv[1:]], capture_output=True, timeout=300,
                            env={**os.environ, **env}, check=False)
    assert result.returncode == 0, result.stderr.decode(errors='replace')
    assert b'Traceback' not in result.stderr
  assert os.path.isfile(os.path.join(run_dir, b'midime.json'))
  assert os.listdir(os.path.join(run_dir, b'train'))  # TensorBoard's events.
  assert len([n for n in os.listdir(out_dir) if n.endswith(b'.mid')]) == 5


@pytest.fixture(scope='module')
def trained(tiny_mel):
  p = personalizer_lib.Personalizer(testdata_lib.tiny_config('tiny-mel_2bar'),
                                    music_vae=tiny_mel)
  p.train(GOOD, epochs=2, seed=0, progress=False)
  return p


def _note_sequence(program=0):
  ns = midi_io.read_midi_file(GOOD)
  ns.notes[3].program = program
  return ns


# (call, the argument the message must name).
MISUSE = {
    'traverse(dimension=1.5)': (lambda p: p.traverse(1.5), 'dimension'),
    'traverse(dimension=4)': (lambda p: p.traverse(4), 'dimension'),
    'traverse(values="x")': (lambda p: p.traverse(0, values='x'), 'values'),
    'traverse(base=[1, 2])': (lambda p: p.traverse(0, base=[1, 2]), 'base'),
    'sample(-1)': (lambda p: p.sample(-1), 'n'),
    'sample(2.5)': (lambda p: p.sample(2.5), 'n'),
    'sample(10**12)': (lambda p: p.sample(10**12), 'n'),
    'sample(attributes="x")': (lambda p: p.sample(1, attributes='x'),
                               'attributes'),
    'sample(attributes={"note_density": "a"})': (
        lambda p: p.sample(1, attributes={'note_density': 'a'}),
        "attributes['note_density']"),
    'sample(temperature=-1)': (lambda p: p.sample(1, temperature=-1),
                               'temperature'),
    'sample(seed=-1)': (lambda p: p.sample(1, seed=-1), 'seed'),
    'sample(variation="x")': (lambda p: p.sample(1, variation='x'),
                              'variation'),
    'decode(z of the wrong width)': (lambda p: p.decode(np.zeros([2, 7])),
                                     'z'),
    'decode(z of strings)': (lambda p: p.decode([['a'] * 32]), 'z'),
    'decode_points(wrong width)': (
        lambda p: p.decode_points(np.zeros([2, 9])), 'points'),
    'piece(chunks=0)': (lambda p: p.piece(0), 'chunks'),
    'piece(step_size="x")': (lambda p: p.piece(2, step_size='x'),
                             'step_size'),
    'sample_prior(-3)': (lambda p: p.sample_prior(-3), 'n'),
    'reconstruct(limit=-1)': (lambda p: p.reconstruct(limit=-1), 'limit'),
    'reconstruct(inputs=5)': (lambda p: p.reconstruct(5), 'inputs'),
    'interpolate(steps=1)': (lambda p: p.interpolate(GOOD, GOOD, steps=1),
                             'steps'),
    'train(epochs=-1)': (lambda p: p.train(GOOD, epochs=-1), 'epochs'),
    'train(hparams="x")': (lambda p: p.train(GOOD, hparams='x'), 'hparams'),
    'train(hop_bars=0)': (lambda p: p.train(GOOD, hop_bars=0), 'hop_bars'),
    'train(nothing)': (lambda p: p.train(), 'inputs'),
    'train(program 200)': (lambda p: p.train(_note_sequence(200)),
                           'program 200'),
    'train(program -1)': (lambda p: p.train(_note_sequence(-1)),
                          'program -1'),
    'compute_attribute_vectors(draws=-1)': (
        lambda p: p.compute_attribute_vectors(draws=-1), 'draws'),
    'constrain(rules=5)': (lambda p: p.constrain(5), 'rules'),
    'save(None)': (lambda p: p.save(None), 'run_dir'),
    'Personalizer(batch_size=0)': (
        lambda p: personalizer_lib.Personalizer(p.config, TINY, batch_size=0),
        'batch_size'),
    'Personalizer.load(checkpoint_file=None)': (
        lambda p: personalizer_lib.Personalizer.load(BAD, None),
        'checkpoint_file'),
}


@pytest.mark.parametrize('call', MISUSE)
def test_the_api_refuses_misuse_naming_the_argument(trained, call):
  function, argument = MISUSE[call]
  with pytest.raises(errors.MidiMeError) as raised:
    function(trained)
  assert argument in str(raised.value)
  assert '--' not in str(raised.value)  # The API's words, not a flag.
  assert np.all(np.isfinite(trained.midime.sample(1, seed=0)))  # Unharmed.


def test_saving_twice_names_the_api_argument(trained, tmp_path):
  trained.save(str(tmp_path / 'run'))
  before = (tmp_path / 'run' / 'midime.json').read_bytes()
  with pytest.raises(run_lib.RunDirError, match='pass overwrite=True') as e:
    trained.save(str(tmp_path / 'run'))
  assert '--' not in str(e.value)
  assert (tmp_path / 'run' / 'midime.json').read_bytes() == before
  trained.save(str(tmp_path / 'run'), overwrite=True)
