"""Rule constraints (Engel, Hoffman & Roberts 2018, "Latent Constraints").

A critic D(z) learns whether a decoded latent obeys the rules; a gated actor
G(z) = (1 - g) z + g delta learns to make it say yes at the least distance
(softplus(-D(G(z))) + w mean(log(1 + (G(z) - z)^2))), over rounds that
retrain the critic on the actor's outputs; the best round's actor is kept.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from midime_magenta import midime_model
from midime_magenta import progress_lib
from midime_magenta.steering import rules_lib
from midime_magenta import windows_lib

# Near argmax, so labels repeat (0.1 flipped 42 of 2048, 0.001 none).
LABEL_TEMPERATURE = 0.001
HIDDEN_LAYERS = (256, 256)
ROUNDS = 3
DEFAULT_ITERATIONS = 100
DRAWS_PER_SOURCE = 1024
BATCH = 256
SEARCH_STEPS = 8


def _mlp(name, outputs, seed):
  init = lambda i: tf.keras.initializers.GlorotUniform(  # pylint: disable=g-long-lambda
      seed=None if seed is None else seed + i)
  return tf.keras.Sequential(
      [tf.keras.layers.Dense(w, activation='relu', name=f'{name}_{i}',
                             kernel_initializer=init(i))
       for i, w in enumerate(HIDDEN_LAYERS)] +
      [tf.keras.layers.Dense(outputs, name=f'{name}_out',
                             kernel_initializer=init(len(HIDDEN_LAYERS)))],
      name=name)


class LatentConstraint(midime_model.NamedWeights, tf.keras.Model):
  """The critic and the actor of one constraint over `rules_lib.Rule`s;
  `distance_weight` is what the actor pays per unit of movement."""

  def __init__(self, z_size, rules, distance_weight=0.1, seed=None,
               name='constraint'):
    super().__init__(name=name)
    seed = None if seed is None else int(seed) % 2**31
    self.z_size = int(z_size)
    self.rules = list(rules)
    self.distance_weight = float(distance_weight)
    self.critic = _mlp('critic', 1, seed)
    self.actor_net = _mlp('actor', 2 * self.z_size,
                          None if seed is None else seed + 100)
    self.critic.build((None, self.z_size))
    self.actor_net.build((None, self.z_size))
    # Start near the identity: the gate opens as training asks for it.
    self.actor_net.layers[-1].bias.assign(tf.concat(
        [tf.zeros(self.z_size), -3.0 * tf.ones(self.z_size)], 0))
    self.report = {}

  @property
  def specs(self):
    return [r.spec for r in self.rules]

  def critic_logits(self, z):
    return midime_model.run_layers(self.critic.layers, z)

  def actor_tensor(self, z):
    delta, gate_logit = tf.split(
        midime_model.run_layers(self.actor_net.layers, z), 2, axis=-1)
    gate = tf.sigmoid(gate_logit)
    return (1.0 - gate) * z + gate * delta

  def apply(self, z, label=None):
    """Moves latents [n, z_size] into the rules' region; float32 numpy.

    With `label` (fn(latents) -> bool [m]), each goes to the first of
    z + t (G(z) - z), t = 0, 1/8, ..., 1, that obeys (else G(z)).
    """
    z = np.asarray(z, np.float32)
    if not len(z):  # pylint: disable=g-explicit-length-test
      return z
    moved = self.actor_tensor(tf.constant(z)).numpy()
    if label is None:
      return moved
    chosen, done = moved.copy(), np.zeros(len(z), bool)
    for t in np.linspace(0.0, 1.0, SEARCH_STEPS + 1, dtype=np.float32):
      todo = np.flatnonzero(~done)
      if not len(todo):  # pylint: disable=g-explicit-length-test
        break
      candidates = z[todo] + t * (moved[todo] - z[todo])
      ok = np.asarray(label(candidates), bool)
      chosen[todo[ok]] = candidates[ok]
      done[todo[ok]] = True
    return chosen

  def _critic_loss(self, z, labels, weights):
    return tf.reduce_mean(weights * tf.nn.sigmoid_cross_entropy_with_logits(
        labels, self.critic_logits(z)))

  def _actor_loss(self, z):
    moved = self.actor_tensor(z)
    return tf.reduce_mean(tf.nn.softplus(-self.critic_logits(moved))) + (
        self.distance_weight * tf.reduce_mean(
            tf.math.log1p(tf.square(moved - z))))

  def train(self, draws, label, iterations=DEFAULT_ITERATIONS, seed=None,
            on_round=None):
    """Trains on latent `draws` labelled by `label`, `iterations` Adam steps a
    round each; {'rounds': [{'critic_loss', 'actor_loss', 'actor_satisfied'}]}."""
    rng = np.random.default_rng(seed)
    critic_step = _adam_step(self.critic, self._critic_loss)
    actor_step = _adam_step(self.actor_net, self._actor_loss)
    draws = np.asarray(draws, np.float32)
    z, labels = draws, np.asarray(label(draws), np.float32)
    history = []
    for r in range(ROUNDS):
      positive = float(np.clip(np.mean(labels), 0.02, 0.98))
      # Balanced classes: rare positives must not be ignored.
      weights = np.float32(np.where(labels > 0.5, 0.5 / positive,
                                    0.5 / (1 - positive)))[:, None]
      critic_loss = _fit(critic_step, [z, labels[:, None], weights],
                         iterations, rng)
      actor_loss = _fit(actor_step, [draws], iterations, rng)
      moved = self.apply(draws)
      moved_labels = np.asarray(label(moved), np.float32)
      history.append({'critic_loss': critic_loss, 'actor_loss': actor_loss,
                      'actor_satisfied': float(moved_labels.mean())})
      if moved_labels.mean() >= max(h['actor_satisfied'] for h in history):
        best = [w.numpy() for w in self.actor_net.weights]
      z = np.concatenate([z, moved])
      labels = np.concatenate([labels, moved_labels])
      if on_round:
        on_round(r + 1, ROUNDS)
    self.actor_net.set_weights(best)
    return {'rounds': history}


def _adam_step(net, loss):
  """A tf.function: one Adam step of `net`'s weights down `loss(*batch)`."""
  optimizer = tf.keras.optimizers.Adam(1e-3)

  def step(*batch):
    with tf.GradientTape() as tape:
      value = loss(*batch)
    grads = tape.gradient(value, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return value
  return tf.function(step)


def _fit(step, arrays, steps, rng):
  """`steps` steps on random batches of rows of `arrays`; the last loss."""
  for _ in range(steps):
    rows = rng.integers(0, len(arrays[0]), min(BATCH, len(arrays[0])))
    value = step(*(a[rows] for a in arrays))
  return float(value)


def rule_checker(music_vae, rules):
  """fn(latents) -> bool [n]: decoded near argmax, do they obey `rules`?"""
  bars = music_vae.chunk_steps // windows_lib.STEPS_PER_BAR

  def check(z):
    return np.array([rules_lib.satisfies(ns, rules, bars) for ns in
                     music_vae.decode(z, LABEL_TEMPERATURE)], bool)
  return check


def train_constraint(music_vae, midime, rules, iterations=None, seed=None,
                     draws=None, measure_draws=256):
  """A `LatentConstraint` for `rules` (specs or `Rule`s), trained on `draws`
  draws of MusicVAE's prior and as many MidiMe samples; its `report` holds
  `rules_lib.measure` of `measure_draws` fresh ones of each and the rounds.

  Raises:
    rules_lib.RuleError: rules that cannot be read, do not fit the model, or
      no chunk can obey together.
  """
  rules = rules_lib.parse_rules(
      [r.spec if isinstance(r, rules_lib.Rule) else r for r in rules],
      music_vae.config)
  rng = np.random.default_rng(seed)

  def draw(count):
    groups = {'prior': music_vae.prior_latents(count, rng)}
    if midime is not None:
      groups['midime'] = midime.sample(count, int(rng.integers(2**31)))
    return groups
  constraint = LatentConstraint(music_vae.z_size, rules,
                                seed=int(rng.integers(2**31)))
  check = rule_checker(music_vae, rules)
  with progress_lib.progress_bar(ROUNDS, 'Training the constraint',
                                 'rounds') as bar:
    training = constraint.train(
        np.concatenate(list(draw(draws or DRAWS_PER_SOURCE).values())),
        check, iterations or DEFAULT_ITERATIONS,
        seed=int(rng.integers(2**31)), on_round=lambda *_: bar.update(1))
  report = {'rules': constraint.specs, 'training': training}
  for group, z in draw(measure_draws).items():
    report[group] = rules_lib.measure(
        rules, music_vae.decode(z, 0.5),
        music_vae.decode(constraint.apply(z, check), 0.5),
        music_vae.chunk_steps)
  if not any(report[g]['satisfied_after'] > 0 for g in ('prior', 'midime')
             if g in report):
    logging.warning('No fresh draw obeys %s even after training (0 of %d): '
                    'this model may not meet these rules together; consider '
                    'looser ones, or --noconstrain when generating.',
                    ', '.join(constraint.specs), measure_draws)
  constraint.report = report
  return constraint


def to_saved(constraint):
  """(arrays, manifest fields) of a constraint, as a run saves them."""
  return (constraint.weight_arrays(),
          {'rules': constraint.specs, 'layers': list(HIDDEN_LAYERS),
           'distance_weight': constraint.distance_weight,
           'report': constraint.report})


def from_saved(arrays, fields, z_size):
  """`to_saved`'s inverse (None without fields), or ValueError saying why."""
  if not fields:
    return None
  specs = fields.get('rules')
  weight = fields.get('distance_weight')
  if not (isinstance(specs, list) and 1 <= len(specs) <= rules_lib.MAX_RULES
          and all(isinstance(x, str) and len(x) <= rules_lib.MAX_RULE_CHARS
                  for x in specs) and
          fields.get('layers') == list(HIDDEN_LAYERS) and
          isinstance(weight, (int, float)) and not isinstance(weight, bool) and
          np.isfinite(weight) and weight >= 0):
    raise ValueError('its constraint is not described as this version '
                     'writes it')
  try:
    rules = [rules_lib.parse_rule(x) for x in specs]
  except rules_lib.RuleError as e:
    raise ValueError(f'its constraint: {e}') from None
  constraint = LatentConstraint(z_size, rules, float(weight))
  if {k: list(a.shape) for k, a in arrays.items()} != constraint.weight_shapes():
    raise ValueError('its constraint does not fit the model')
  constraint.set_weight_arrays(arrays)
  report = fields.get('report')
  constraint.report = report if isinstance(report, dict) else {}
  return constraint


def format_report(report):
  """A constraint's report (`Personalizer.constrain`) as a plain table."""
  groups = [g for g in ('midime', 'prior') if g in report]
  labels = {'midime': 'MidiMe samples', 'prior': 'prior samples'}
  lines = [f'Rule constraint {", ".join(report["rules"])}, measured on '
           f'{report[groups[0]]["chunks"]} fresh draws of each kind '
           '(temperature 0.5):',
           f'{"":16} {"obey before":>11} {"obey after":>11} '
           f'{"onsets kept":>11} {"contour corr":>12}']
  for g in groups:
    r = report[g]
    lines.append(f'{labels[g]:16} {r["satisfied_before"]:11.3f} '
                 f'{r["satisfied_after"]:11.3f} {r["onsets_kept"]:11.3f} '
                 f'{r["contour_correlation"]:12.3f}')
  return '\n'.join(lines)
