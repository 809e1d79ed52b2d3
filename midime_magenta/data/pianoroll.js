// MidiMe's piano rolls that play: every <div class="midime-roll" data-notes>
// on the page is drawn (pitch up, time across) with a play/stop button; play
// synthesizes the notes with WebAudio and a playhead follows the audio clock.
// data-notes: [[pitch, start s, end s, is_drum, voice, program], ...];
// data-seconds: its length, data-bar: a bar's seconds.
(function () {
  if (window.midimeRolls) return;
  var COLOURS = ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd'], DRUM = '#d62728';
  var audio = null, playing = null, noise = null;

  function context() {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (!noise) {  // Half a second of white noise for the drums.
      noise = audio.createBuffer(1, audio.sampleRate / 2, audio.sampleRate);
      var data = noise.getChannelData(0);
      for (var i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
    }
    return audio;
  }

  function voice(ctx, note, at, out) {  // One note: a triangle or a drum hit.
    var gain = ctx.createGain(), start = at + note[1];
    var end = note[3] ? start + 0.12 : at + Math.max(note[2], note[1] + 0.03);
    var source;
    if (note[3]) {
      source = ctx.createBufferSource();
      source.buffer = noise;
      source.playbackRate.value = 0.5 + (note[0] % 24) / 16;
    } else {
      source = ctx.createOscillator();
      source.type = note[5] >= 32 && note[5] < 40 ? 'sine' : 'triangle';
      source.frequency.value = 440 * Math.pow(2, (note[0] - 69) / 12);
    }
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(note[3] ? 0.25 : 0.18, start + 0.005);
    gain.gain.setTargetAtTime(0, Math.max(start + 0.01, end - 0.04), 0.02);
    source.connect(gain).connect(out);
    source.start(start);
    source.stop(end + 0.2);
    return source;
  }

  function stop() {
    if (!playing) return;
    playing.out.disconnect();
    playing.el.dataset.state = 'stopped';
    playing.button.textContent = '\u25B6';
    playing.head.style.display = 'none';
    playing = null;
  }

  function play(el, notes, seconds, button, head) {
    var was = playing && playing.el;
    stop();
    if (was === el) return;
    var ctx = context();
    ctx.resume();
    var out = ctx.createGain(), at = ctx.currentTime + 0.05;
    out.connect(ctx.destination);
    notes.forEach(function (n) { voice(ctx, n, at, out); });
    playing = {el: el, out: out, button: button, head: head};
    el.dataset.state = 'playing';
    button.textContent = '\u25A0';
    head.style.display = 'block';
    (function move() {
      if (!playing || playing.el !== el) return;
      var t = ctx.currentTime - at;
      if (t > seconds || !el.isConnected) return stop();
      head.style.left = (Math.max(0, t) / seconds * 100) + '%';
      el.dataset.position = Math.max(0, t).toFixed(2);
      requestAnimationFrame(move);
    })();
  }

  function draw(el) {
    var notes = JSON.parse(el.dataset.notes || '[]');
    var seconds = Math.max(parseFloat(el.dataset.seconds) || 0, 0.5);
    el._drawn = el.dataset.notes;
    el.innerHTML = '';
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'midime-play';
    button.title = 'Play or stop';
    button.textContent = '\u25B6';
    button.disabled = !notes.length;
    var lane = document.createElement('div');
    lane.className = 'midime-lane';
    var canvas = document.createElement('canvas');
    var head = document.createElement('div');
    head.className = 'midime-playhead';
    lane.append(canvas, head);
    el.append(button, lane);
    var width = lane.clientWidth || 600, height = lane.clientHeight || 96;
    var scale = window.devicePixelRatio || 1;
    canvas.width = width * scale;
    canvas.height = height * scale;
    var g = canvas.getContext('2d');
    g.scale(scale, scale);
    var pitches = notes.map(function (n) { return n[0]; });
    var low = Math.min.apply(null, pitches.concat([60])) - 1;
    var high = Math.max.apply(null, pitches.concat([72])) + 1;
    var row = height / (high - low + 1);
    g.fillStyle = '#e5e5e5';
    var bar = parseFloat(el.dataset.bar) || 2;
    for (var line = bar; line < seconds; line += bar) {
      g.fillRect(line / seconds * width, 0, 1, height);
    }
    notes.forEach(function (n) {
      g.fillStyle = n[3] ? DRUM : COLOURS[n[4] % COLOURS.length];
      g.fillRect(n[1] / seconds * width, (high - n[0]) * row,
                 Math.max(2, (n[2] - n[1]) / seconds * width - 1),
                 Math.max(2, row - 1));
    });
    el.dataset.drawn = notes.length;
    el.dataset.state = 'stopped';
    button.onclick = function () { play(el, notes, seconds, button, head); };
  }

  function scan() {
    document.querySelectorAll('.midime-roll').forEach(function (el) {
      if (el._drawn !== el.dataset.notes) draw(el);
    });
  }
  window.midimeRolls = {scan: scan, stop: stop};
  new MutationObserver(scan).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ['data-notes']});
  if (document.readyState !== 'loading') scan();
  else document.addEventListener('DOMContentLoaded', scan);
})();
