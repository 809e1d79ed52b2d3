"""MidiMe here against Magenta.js itself, run under Node.

tests/magentajs/ pins @magenta/music 1.23.1 (package-lock.json) and holds
`parity.js`, which runs the MidiMe demo's own steps (music/demos/midi_me.ts)
on tfjs's pure-JS CPU backend: `midiToSequenceProto(bytes)`,
`quantizeNoteSequence(ns, 4)`, `sequences.split(ns, 32)`, `MusicVAE.encode`,
`MidiMe.train`. Each side reads the MIDI files with its own reader (ours is
midi_io's, Magenta.js's is @tonejs/midi); the melody track is ours to choose
(the demo takes every note), so Magenta.js's chunks come from its own notes
of that track. Both get the same checkpoint: ../shared's mel_2bar_small in
the TF layout here, in the Magenta.js layout there, served on 127.0.0.1.

The npm install is kept in tests/magentajs/node_modules (like .venv), redone
when package-lock.json changes. Without Node and npm the tests skip and say
so; in CI (CI=true) they fail instead.
"""

import base64
import collections
import hashlib
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from midime_magenta import chunking_lib
from midime_magenta import midi_io
from midime_magenta import midime_hparams
from midime_magenta import midime_model
from midime_magenta import tracks_lib
from midime_testing import testdata_lib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'magentajs')
TUNES = ['reel_4-4.mid', 'waltz_3-4.mid', 'chorale_satb.mid',
         'folk/0051-0100_0008.mid', 'folk/0201-0300_0031.mid',
         'folk/0626-0700_0022.mid']
# Training is chaotic: float roundoff (tfjs sums in another order than
# oneDNN) stays near 1e-7 of the loss for the first 10 epochs here, then
# grows: on the reel's and the waltz's chunks as each reader reads them,
# 8e-6 at epoch 13 and 1.3e-4 at 19 (with the reel's 4th window one held
# note, as pretty_midi read it, it stayed near 1e-7 for about 40). The
# first 10 epochs are compared, at a tolerance that Keras's own Adam already
# misses (measured: 4e-5 at the second epoch; a 1% learning-rate change
# 2e-4 at once).
EPOCHS = 10


def _need(what):
  message = f'{what}: the Magenta.js parity tests need Node and npm.'
  if os.environ.get('CI'):
    pytest.fail(message)
  pytest.skip(message)


@pytest.fixture(scope='module')
def node():
  """`node`, with @magenta/music installed in tests/magentajs."""
  node_path, npm = shutil.which('node'), shutil.which('npm')
  if not (node_path and npm):
    _need('node or npm is not on PATH')
  with open(os.path.join(HERE, 'package-lock.json'), 'rb') as f:
    stamp = hashlib.sha256(f.read()).hexdigest()
  stamp_file = os.path.join(HERE, 'node_modules', '.midime-stamp')
  if not (os.path.exists(stamp_file) and open(stamp_file).read() == stamp):
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--ignore-scripts',
                    '--loglevel=error'], cwd=HERE, check=True, timeout=600)
    with open(stamp_file, 'w') as f:
      f.write(stamp)
  return node_path


def _b64(array):
  return base64.b64encode(np.asarray(array, '<f4').tobytes()).decode()


def _f32(text, shape):
  return np.frombuffer(base64.b64decode(text), '<f4').reshape(shape)


def _magenta_js(node_path, request):
  done = subprocess.run([node_path, os.path.join(HERE, 'parity.js')],
                        input=json.dumps(request), capture_output=True,
                        text=True, cwd=HERE, timeout=1200, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


def _melody(path):
  """The tune's melody track alone, read by our reader (the track choice
  is ours; the demo takes every note)."""
  ns = midi_io.read_midi_file(testdata_lib.testdata_path(path))
  chosen = tracks_lib.choose_melody_instrument(ns, None, None)
  kept = [n for n in ns.notes if n.instrument == chosen and not n.is_drum]
  del ns.notes[:]
  ns.notes.extend(kept)
  del ns.time_signatures[:]  # The demo's quantizer refuses meter changes.
  ns.time_signatures.add(time=0, numerator=4, denominator=4)
  del ns.tempos[1:]
  return ns


def _their_melody(read, ours):
  """Magenta.js's own notes of the track that is our melody: its instrument
  (a track with notes) whose notes start where ours do."""
  def starts(notes):
    return collections.Counter((p, round(t, 6)) for p, t, *_ in notes)
  mine = starts([(n.pitch, n.start_time) for n in ours.notes])
  instruments = {n[3] for n in read['notes']}
  chosen = max(instruments, key=lambda i: sum((mine & starts(
      [n for n in read['notes'] if n[3] == i])).values()))
  ns = music_pb2.NoteSequence()
  for pitch, start, end, instrument in read['notes']:
    if instrument == chosen:
      ns.notes.add(pitch=pitch, velocity=80, start_time=start, end_time=end,
                   instrument=instrument)
  ns.tempos.add(time=read['tempos'][0][0], qpm=read['tempos'][0][1])
  ns.total_time = max(n.end_time for n in ns.notes)
  return ns


def _as_json(ns):
  return {
      'notes': [{'pitch': n.pitch, 'velocity': n.velocity,
                 'startTime': n.start_time, 'endTime': n.end_time,
                 'program': n.program, 'instrument': n.instrument,
                 'isDrum': n.is_drum} for n in ns.notes],
      'tempos': [{'time': t.time, 'qpm': t.qpm} for t in ns.tempos],
      'timeSignatures': [{'time': 0, 'numerator': 4, 'denominator': 4}],
      'totalTime': ns.total_time}


@pytest.fixture(scope='module')
def both(node, mel_2bar_small):
  """What each side makes of the tunes: chunks, encoder inputs and z."""
  tfjs = testdata_lib.shared_path('checkpoints', 'mel_2bar_small_tfjs')
  if tfjs is None:
    _need('../shared/checkpoints/mel_2bar_small_tfjs is missing')
  sequences = [_melody(t) for t in TUNES]
  ours = [chunking_lib.chunk_note_sequence(ns, mel_2bar_small.config)
          for ns in sequences]
  midis = []
  for tune in TUNES:
    with open(testdata_lib.testdata_path(tune), 'rb') as f:
      midis.append(base64.b64encode(f.read()).decode())
  read = _magenta_js(node, {'midis': midis, 'sequences': [],
                            'chunk_steps': 32})['read']
  melodies = [_their_melody(r, s) for r, s in zip(read, sequences)]
  for mine, theirs in zip(sequences, melodies):  # The readers agree.
    sixteenth = 15 / theirs.tempos[0].qpm  # Our length of their zero-length.
    assert sorted((n.pitch, round(n.start_time, 6), round(n.end_time, 6))
                  for n in mine.notes) == sorted(
                      (n.pitch, round(n.start_time, 6), round(
                          n.end_time + (n.end_time == n.start_time) * sixteenth,
                          6)) for n in theirs.notes)
  with testdata_lib.serving(tfjs) as url:
    theirs = _magenta_js(node, {'sequences': [_as_json(s) for s in melodies],
                                'chunk_steps': 32, 'checkpoint_url': url})
  return ours, theirs


def test_chunks_are_the_demos(both):
  ours, theirs = both
  mine = [[(n.pitch, n.quantized_start_step, n.quantized_end_step)
           for n in notes] for c in ours for notes in c.notes]
  assert len(mine) == len(theirs['chunks']) >= 30
  assert mine == [[tuple(n) for n in c] for c in theirs['chunks']]
  # The 16-bar reel is the demo's 8 windows, 2 bars apart.
  assert ours[0].num_chunks == 8 and ours[0].starts == [4.0 * k for k in range(8)]


def test_encoder_inputs_and_z_are_magenta_js(both, mel_2bar_small):
  ours, theirs = both
  inputs = [x for c in ours for x in c.inputs]
  for mine, text in zip(inputs, theirs['tensors']):
    np.testing.assert_array_equal(mine, _f32(text, mine.shape))
  z = mel_2bar_small.encode_tensors(inputs, [x for c in ours for x in c.lengths],
                                    progress=False)
  np.testing.assert_allclose(z, _f32(theirs['z'], z.shape), atol=1e-5, rtol=0)


def test_training_is_magenta_js_from_the_same_start_and_noise(node, both,
                                                              mel_2bar_small):
  ours, _ = both
  # The reel's and the waltz's 14 chunks: tfjs's CPU backend takes about
  # a second an epoch for these.
  z = mel_2bar_small.encode_tensors(
      [x for c in ours[:2] for x in c.inputs],
      [x for c in ours[:2] for x in c.lengths], progress=False)
  model = midime_model.MidiMe(z.shape[1], midime_hparams.HParams(), seed=7)
  layers = [*model.encoder_hidden, model.encoder_mu, model.encoder_sigma,
            *model.decoder_hidden, model.decoder_output]
  weights = [_b64(w.numpy()) for layer in layers
             for w in (layer.kernel, layer.bias)]
  start = [layer.get_weights() for layer in layers]
  noise = np.random.default_rng(7).standard_normal(
      [EPOCHS, len(z), model.hparams.latent_size]).astype(np.float32)
  theirs = _magenta_js(node, {
      'sequences': [], 'chunk_steps': 32,
      'train': {'z': _b64(z), 'z_shape': list(z.shape), 'input_size': z.shape[1],
                'latent_size': model.hparams.latent_size, 'epochs': EPOCHS,
                'weights': weights, 'noise': _b64(noise)}})
  history = model.train(z, epochs=EPOCHS, noise=noise)
  mine = np.stack([history['loss'], history['reconstruction_loss'],
                   history['kl_loss']], axis=1)
  theirs = np.asarray(theirs['losses'])
  assert theirs.shape == mine.shape == (EPOCHS, 3)
  relative = np.abs(mine - theirs) / np.abs(theirs)
  print('largest relative difference (total, reconstruction, kl):',
        relative.max(axis=0))
  np.testing.assert_allclose(mine[:, 0], theirs[:, 0], rtol=1e-5)
  # The tolerance tells the optimizers apart: Keras's Adam (epsilon before
  # the bias correction) from the same start and noise misses it.
  keras = midime_model.MidiMe(
      z.shape[1], midime_hparams.HParams(optimizer='keras'), seed=7)
  for layer, weights_at_start in zip(
      [*keras.encoder_hidden, keras.encoder_mu, keras.encoder_sigma,
       *keras.decoder_hidden, keras.decoder_output], start):
    layer.set_weights(weights_at_start)
  other = keras.train(z, epochs=EPOCHS, noise=noise)['loss']
  assert not np.allclose(other, theirs[:, 0], rtol=1e-5, atol=0)
