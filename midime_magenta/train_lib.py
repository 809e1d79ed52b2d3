"""`midime_train`'s work, as a flag-free function: MIDI in, a run_dir out.

A run_dir holds:
  midime.json, weights-*.npz  the MidiMe model (see midime_model)
  training_latents.npz        the mu of every chunk trained on, the chunks
                              themselves (converter tensors) and their sources
  train/                      TensorBoard events (loss/total, /reconstruction, /kl)
  loss.png                    the loss curves
  summary.json                chunks per input, epochs, final losses, seconds

Every file is written under a temporary name and renamed into place.
"""

import dataclasses
import os
import shutil
import sys
import time

import numpy as np
from absl import logging

from midime_magenta import chunking_lib
from midime_magenta import configs
from midime_magenta import file_util
from midime_magenta import midime_model
from midime_magenta import music_vae_lib
from midime_magenta import plots_lib
from midime_magenta import training_callbacks

LATENTS_FILE = 'training_latents.npz'
SUMMARY_FILE = 'summary.json'
LOSS_PLOT_FILE = 'loss.png'
TENSORBOARD_DIR = 'train'


class RunDirError(ValueError):
  """A run_dir that already holds a model, or cannot be written."""


def resolve_hparams(config, num_epochs=None, latent_size=None, beta=None,
                    hparams=''):
  """The config's hparams with flag overrides applied (--hparams last).

  Raises:
    configs.ConfigError: for unknown names or bad values.
  """
  changes = {k: v for k, v in (('num_epochs', num_epochs),
                               ('latent_size', latent_size), ('beta', beta))
             if v is not None}
  try:
    result = dataclasses.replace(config.hparams, **changes)
    return result.parse(hparams) if hparams else result
  except ValueError as e:
    raise configs.ConfigError(f'Bad hyperparameters: {e}') from None


def chunk_inputs(input_spec, music_vae_config, instrument=None, program=None):
  """Reads and chunks every input, logging what each gave.

  Returns:
    A list of `ChunkedInput`, one per sequence read.

  Raises:
    chunking_lib.InputError: for inputs that cannot be found or read.
    chunking_lib.NoChunksError: when no input gave a chunk; says why for each.
  """
  files = chunking_lib.find_input_files(input_spec)
  chunked = []
  show_progress = len(files) > 20
  for i, path in enumerate(files):
    for source, ns in chunking_lib.read_note_sequences(path):
      result = chunking_lib.chunk_note_sequence(
          ns, music_vae_config, source, instrument, program)
      chunked.append(result)
      if result.num_chunks:
        track = ('' if result.instrument is None
                 else f' (melody from instrument {result.instrument})')
        logging.info('%s: %d chunks%s.', source, result.num_chunks, track)
      else:
        logging.warning('%s: no chunks, because %s.', source, result.reason)
      if result.notes_out_of_range:
        logging.warning('%s: dropped %d notes outside the model\'s pitch '
                        'range.', source, result.notes_out_of_range)
    if show_progress and (i + 1) % 20 == 0:
      logging.info('Read %d of %d files.', i + 1, len(files))
  if not any(c.num_chunks for c in chunked):
    bars = configs.chunk_steps(music_vae_config) // 16
    if len(chunked) == 1:
      raise chunking_lib.NoChunksError(
          f'{chunked[0].source} gave no {bars}-bar chunks: '
          f'{chunked[0].reason}.')
    reasons = sorted({c.reason for c in chunked})
    raise chunking_lib.NoChunksError(
        f'None of the {len(chunked)} inputs gave a {bars}-bar chunk '
        f'({"; ".join(reasons[:3])}).')
  return chunked


def _save_npz_atomically(path, **arrays):
  tmp = f'{path}.{os.getpid()}.tmp.npz'
  np.savez_compressed(tmp, **arrays)
  os.replace(tmp, path)


def check_run_dir(run_dir, overwrite):
  """Refuses a run_dir that holds a model (unless `overwrite`) or cannot be
  written. Creates nothing: a failed run leaves no trace."""
  if os.path.exists(midime_model.model_json_path(run_dir)) and not overwrite:
    raise RunDirError(
        f'{run_dir} already holds a MidiMe model; pass --overwrite to replace '
        'it, or choose another --run_dir.')
  existing = os.path.abspath(run_dir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
    raise RunDirError(
        f'Cannot create --run_dir {run_dir}: {existing} is not a writable '
        'folder.')


def train_from_midi(config_name, checkpoint_file, input_spec, run_dir,
                    num_epochs=None, latent_size=None, beta=None, hparams='',
                    instrument=None, program=None, seed=None, overwrite=False,
                    encode_batch_size=256, progress_stream=None):
  """Chunks MIDI, encodes it with a frozen MusicVAE, trains and saves MidiMe.

  Returns:
    The summary dict also written to summary.json.

  Raises:
    configs.ConfigError, checkpoint_lib.CheckpointError,
    chunking_lib.InputError, chunking_lib.NoChunksError, RunDirError, ValueError (bad
    hparams), midime_model.TrainingDivergedError.
  """
  started = time.perf_counter()
  config = configs.get_config(config_name)
  hp = resolve_hparams(config, num_epochs, latent_size, beta, hparams)
  music_vae_config = configs.get_music_vae_config(config.music_vae_config)
  check_run_dir(run_dir, overwrite)

  chunk_start = time.perf_counter()
  chunked = chunk_inputs(input_spec, music_vae_config, instrument, program)
  chunk_seconds = time.perf_counter() - chunk_start
  num_chunks = sum(c.num_chunks for c in chunked)
  logging.info('%d chunks from %d inputs.', num_chunks, len(chunked))

  load_start = time.perf_counter()
  music_vae = music_vae_lib.load_music_vae(
      config.music_vae_config, checkpoint_file,
      batch_size=min(encode_batch_size, num_chunks))
  load_seconds = time.perf_counter() - load_start

  encode_start = time.perf_counter()
  z = music_vae.encode_tensors(
      [x for c in chunked for x in c.inputs],
      [x for c in chunked for x in c.lengths],
      [x for c in chunked for x in c.controls])
  encode_seconds = time.perf_counter() - encode_start
  logging.info('Encoded %d chunks in %.1f s.', num_chunks, encode_seconds)

  model = midime_model.MidiMe(
      music_vae.z_size, hp, seed=seed,
      music_vae=midime_model.describe_music_vae(
          music_vae.config_name, music_vae.z_size, music_vae.fingerprint))
  created = os.path.abspath(run_dir)  # The topmost folder this run creates.
  while not os.path.exists(os.path.dirname(created)):
    created = os.path.dirname(created)
  created = None if os.path.exists(created) else created
  os.makedirs(run_dir, exist_ok=True)  # TensorBoard writes while training.
  callbacks = [
      training_callbacks.ProgressBar(hp.num_epochs,
                                     stream=progress_stream or sys.stderr),
      training_callbacks.TensorBoardScalars(
          os.path.join(run_dir, TENSORBOARD_DIR))]
  try:
    history = model.train(z, callbacks=callbacks)
  except midime_model.TrainingDivergedError:
    if created:  # Leave no half-made run_dir (or its new parents) behind.
      shutil.rmtree(created, ignore_errors=True)
    raise
  epochs_done = len(history['loss'])
  if not epochs_done:
    raise KeyboardInterrupt  # Interrupted before one epoch: nothing to save.
  if history['interrupted']:
    logging.warning('Interrupted after %d of %d epochs: saving the model '
                    'trained so far.', epochs_done, hp.num_epochs)

  save_start = time.perf_counter()
  summary = {
      'config': config.name,
      'music_vae': model.music_vae,
      'checkpoint': music_vae.checkpoint,
      'inputs': [{'source': c.source, 'chunks': c.num_chunks,
                  'reason': c.reason, 'instrument': c.instrument,
                  'notes_out_of_range': c.notes_out_of_range}
                 for c in chunked],
      'num_chunks': num_chunks,
      'hparams': hp.to_dict(),
      'epochs': epochs_done,
      'interrupted': history['interrupted'],
      'final_loss': {'total': history['loss'][-1],
                     'reconstruction': history['reconstruction_loss'][-1],
                     'kl': history['kl_loss'][-1]},
      'seconds': {'chunking': chunk_seconds, 'restore': load_seconds,
                  'encoding': encode_seconds, 'training': history['seconds']},
  }
  model.training_summary = {k: summary[k] for k in
                            ('num_chunks', 'epochs', 'final_loss')}
  sources = [c.source for c in chunked for _ in range(c.num_chunks)]
  _save_npz_atomically(
      os.path.join(run_dir, LATENTS_FILE), z=z,
      chunks=np.stack([x for c in chunked for x in c.outputs]),
      sources=np.array(sources, dtype=str))
  plots_lib.plot_loss_curve(history, os.path.join(run_dir, LOSS_PLOT_FILE),
                            title=f'MidiMe on {config.name}: {num_chunks} '
                            'chunks')
  model.save(run_dir)  # Last: the model appears only when all else is there.
  summary['seconds']['saving'] = time.perf_counter() - save_start
  summary['seconds']['total'] = time.perf_counter() - started
  file_util.write_json_atomically(os.path.join(run_dir, SUMMARY_FILE),
                                     summary)
  return summary


def load_training_data(run_dir):
  """Reads training_latents.npz: (z, chunk tensors, sources)."""
  path = os.path.join(run_dir, LATENTS_FILE)
  try:
    with np.load(path, allow_pickle=False) as data:
      return data['z'], data['chunks'], [str(s) for s in data['sources']]
  except (OSError, ValueError, KeyError) as e:
    raise midime_model.ModelFileError(
        f'{path} is missing or damaged ({type(e).__name__}); train again with '
        'midime_train.') from None
