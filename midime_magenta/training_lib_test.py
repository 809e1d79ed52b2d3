"""Tests for training_lib's fused Adam against tf_keras's own Adam."""

import numpy as np
import pytest
import tensorflow as tf

from midime_magenta import training_lib


def _steps(make_optimizer, apply, steps=30, epsilon=1e-7):
  """A few Adam steps on two weights with fixed gradients; the weights."""
  rng = np.random.default_rng(0)
  weights = [tf.Variable(rng.standard_normal(shape).astype(np.float32))
             for shape in ([6, 5], [5])]
  optimizer = make_optimizer(weights, epsilon)
  grads = [[tf.constant((rng.standard_normal(w.shape) *
                         10.0 ** rng.integers(-6, 1)).astype(np.float32))
            for w in weights] for _ in range(steps)]
  for g in grads:
    apply(optimizer, g, weights)
  return [w.numpy() for w in weights]


def _ours(tfjs):
  return (lambda weights, eps: training_lib.Adam(weights, 1e-3, tfjs=tfjs,
                                                 epsilon=eps),
          lambda optimizer, g, weights: optimizer.apply(g))


def _keras(adaptive):
  return (lambda weights, eps: tf.keras.optimizers.Adam(
      1e-3, epsilon=eps, adaptive_epsilon=adaptive),
          lambda optimizer, g, weights: optimizer.apply_gradients(
              zip(g, weights)))


@pytest.mark.parametrize('tfjs', [True, False])
def test_fused_adam_is_keras_adam(tfjs):
  """tfjs=True is tf_keras's `adaptive_epsilon` (tfjs's formula); False is
  its default. Small gradients and a large epsilon make the two differ."""
  for epsilon in (1e-7, 1e-4):
    ours = _steps(*_ours(tfjs), epsilon=epsilon)
    keras = _steps(*_keras(tfjs), epsilon=epsilon)
    other = _steps(*_keras(not tfjs), epsilon=epsilon)
    for a, b in zip(ours, keras):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert not all(np.allclose(a, b, rtol=1e-5, atol=1e-7)
                 for a, b in zip(ours, other))


def test_slots_are_not_keras_weights():
  layer = tf.keras.layers.Dense(3)
  layer.build((None, 2))
  layer.adam = training_lib.Adam(layer.trainable_weights, 1e-3)
  assert len(layer.weights) == 2
  assert len(layer.adam.variables) == 1 + 2 * 2
