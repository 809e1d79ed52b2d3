// Runs Magenta.js itself (@magenta/music, pinned in package.json) under Node
// on tfjs's pure-JS CPU backend, as the MidiMe demo (music/demos/midi_me.ts)
// does it, and prints what it made as JSON. Driven by
// tests/magentajs_parity_test.py; not part of the package.
//
// stdin: {"midis": [b64 MIDI file] (optional: read with core.midiToSequenceProto),
//         "sequences": [NoteSequence JSON], "chunk_steps": 32,
//         "checkpoint_url": "http://127.0.0.1:.../" (optional),
//         "train": {"z": b64 float32 [n, input_size], "input_size": 256,
//                   "weights": [b64 float32, ...] (kernel, bias of each Dense:
//                     encoder hidden..., mu, sigma, decoder hidden..., output),
//                   "noise": b64 float32 [epochs, n, latent_size],
//                   "epochs": 100, "latent_size": 4} (optional)}
// stdout: {"read": [{"notes": [[pitch, start s, end s, instrument], ...],
//                    "tempos": [[time, qpm], ...]}] (with midis),
//          "chunks": [[[pitch, start step, end step], ...], ...],
//          "tensors": [b64 of each chunk's encoder input],
//          "z": b64 float32 [chunks, z_size] (with checkpoint_url),
//          "losses": [[total, reconstruction, kl], ...] (with train)}
'use strict';
const Module = require('module');
const load = Module._load;
Module._load = function(request) {
  // Tone.js (audio playback) ships an ESM build that require() cannot load;
  // nothing here plays sound.
  if (request === 'tone') return new Proxy({}, {get: () => function() {}});
  return load.apply(this, arguments);
};
const tf = require('@tensorflow/tfjs');
const core = require('@magenta/music/node/core');
const {MusicVAE, MidiMe} = require('@magenta/music/node/music_vae');
const {NoteSequence} = require('@magenta/music/node/protobuf');

const f32 = (b64) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
};
const b64 = (array) => Buffer.from(new Float32Array(array).buffer).toString('base64');

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  await tf.setBackend('cpu');
  const out = {backend: tf.getBackend(), chunks: [], tensors: []};
  // The demo's loadFile(): @tonejs/midi through core.midiToSequenceProto.
  out.read = (input.midis || []).map((text) => {
    const ns = core.midiToSequenceProto(Buffer.from(text, 'base64'));
    return {notes: ns.notes.map((n) => [n.pitch, n.startTime, n.endTime,
                                        n.instrument]),
            tempos: ns.tempos.map((t) => [t.time, t.qpm])};
  });
  // The demo's train(): quantize, then split into chunk_steps windows.
  let chunks = [];
  for (const json of input.sequences) {
    const ns = NoteSequence.fromObject(json);
    const quantized = core.sequences.quantizeNoteSequence(ns, 4);
    chunks = chunks.concat(
        core.sequences.split(core.sequences.clone(quantized), input.chunk_steps));
  }
  out.chunks = chunks.map((c) => c.notes.map(
      (n) => [n.pitch, n.quantizedStartStep, n.quantizedEndStep]));
  if (input.checkpoint_url) {
    const vae = new MusicVAE(input.checkpoint_url);
    await vae.initialize();
    out.tensors = chunks.map((c) => {
      const t = vae.dataConverter.toTensor(c);
      const values = b64(t.dataSync());
      t.dispose();
      return values;
    });
    const z = await vae.encode(chunks);
    out.z = b64(z.dataSync());
    out.z_shape = z.shape;
    z.dispose();
    vae.dispose();
  }
  if (input.train) {
    const t = input.train;
    const midime = new MidiMe({epochs: t.epochs, input_size: t.input_size,
                               latent_size: t.latent_size});
    midime.initialize();
    const byCreation = (model) => model.layers
        .filter((l) => l.getClassName() === 'Dense')
        .sort((a, b) => Number(a.name.split('Dense')[1]) -
                        Number(b.name.split('Dense')[1]));
    const dense = byCreation(midime.encoder).concat(byCreation(midime.decoder));
    let k = 0;
    for (const layer of dense) {
      const [kernel, bias] = layer.getWeights();
      layer.setWeights([tf.tensor(f32(t.weights[k]), kernel.shape),
                        tf.tensor(f32(t.weights[k + 1]), bias.shape)]);
      k += 2;
    }
    const n = t.z_shape[0];
    const noise = tf.tensor(f32(t.noise), [t.epochs, n, t.latent_size]);
    const sampling = midime.encoder.layers.find(
        (l) => l.getClassName() === 'SamplingLayer');
    // Each epoch runs the chunks through the layer twice (encoder.predict
    // for mu and sigma, whose sample is unused, then vae.predict), in
    // predict()'s batches of 32: both passes get that epoch's draws.
    let passes = 0, row = 0;
    sampling.call = (inputs) => tf.tidy(() => {
      const [mu, sigma] = inputs;
      const rows = mu.shape[0];
      const eps = noise.slice([Math.floor(passes / 2), row, 0],
                              [1, rows, t.latent_size])
          .reshape([rows, t.latent_size]);
      row += rows;
      if (row >= n) {
        row = 0;
        passes += 1;
      }
      return tf.add(tf.mul(eps, sigma), mu);
    });
    const z = tf.tensor(f32(t.z), t.z_shape);
    out.losses = [];
    await midime.train(z, (epoch, logs) => {
      out.losses.push([logs.total, logs.losses[0], logs.losses[1]]);
    });
  }
  // Magenta.js logs to stdout: the JSON is the last line.
  process.stdout.write('\n' + JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
