"""MidiMe hyperparameters: one immutable record, Magenta.js's defaults."""

import dataclasses
import math

from midime_magenta import errors

# Far above what MidiMe needs, so no file or flag asks for gigabytes.
MAX_LATENT_SIZE = 512
MAX_LAYER_WIDTH = 16384
MAX_LAYERS = 16
MAX_EPOCHS = 1_000_000
# The named choices of the string hparams; the first is the default.
CHOICES = {'initializer': ('tfjs', 'keras'), 'optimizer': ('tfjs', 'keras')}


@dataclasses.dataclass(frozen=True)
class HParams:
  """MidiMe hyperparameters; an epoch is one full batch up to `max_full_batch`
  chunks, else mini-batches; `initializer`, `optimizer`: tfjs's or Keras's."""
  latent_size: int = 4
  encoder_layers: tuple[int, ...] = (1024, 256, 64)
  decoder_layers: tuple[int, ...] = (64, 256, 1024)
  beta: float = 1.0
  learning_rate: float = 1e-3
  num_epochs: int = 100
  max_full_batch: int = 4096
  initializer: str = 'tfjs'
  optimizer: str = 'tfjs'

  def __post_init__(self):
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if getattr(f.type, '__origin__', None) is tuple:
        if not (isinstance(value, (list, tuple)) and len(value) <= MAX_LAYERS
                and all(_is_int(w) for w in value)):
          raise errors.UsageError(
              f'{f.name} must be a list of at most {MAX_LAYERS} integers, '
              f'got {value!r}.')
        object.__setattr__(self, f.name, tuple(int(w) for w in value))
      elif f.type is str and value not in CHOICES[f.name]:
        raise errors.UsageError(
            f'{f.name} must be one of {list(CHOICES[f.name])}, got '
            f'{value!r}.')
      elif f.type in (int, float):
        if not (_is_int(value) or f.type is float and isinstance(value, float)):
          what = 'a number' if f.type is float else 'an integer'
          raise errors.UsageError(f'{f.name} must be {what}, got {value!r}.')
        object.__setattr__(self, f.name, f.type(value))
    widths = self.encoder_layers + self.decoder_layers
    checks = [
        (1 <= self.latent_size <= MAX_LATENT_SIZE,
         f'latent_size must be from 1 to {MAX_LATENT_SIZE}', self.latent_size),
        (all(1 <= w <= MAX_LAYER_WIDTH for w in widths),
         f'layer widths must be from 1 to {MAX_LAYER_WIDTH}', widths),
        (self.beta >= 0 and math.isfinite(self.beta),
         'beta must be a number, not negative', self.beta),
        (self.learning_rate > 0 and math.isfinite(self.learning_rate),
         'learning_rate must be a positive number', self.learning_rate),
        (1 <= self.num_epochs <= MAX_EPOCHS,
         f'num_epochs must be from 1 to {MAX_EPOCHS}', self.num_epochs),
        (self.max_full_batch >= 1, 'max_full_batch must be at least 1',
         self.max_full_batch),
    ]
    for ok, message, value in checks:
      if not ok:
        raise errors.UsageError(f'{message}, got {value}.')

  def parameter_count(self, input_size):
    """Weights and biases of a MidiMe on z of `input_size`."""
    widths = [input_size, *self.encoder_layers]
    count = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    count += 2 * (widths[-1] + 1) * self.latent_size
    widths = [self.latent_size, *self.decoder_layers, input_size]
    return count + sum((a + 1) * b for a, b in zip(widths, widths[1:]))

  def to_dict(self):
    return {**dataclasses.asdict(self), 'encoder_layers': list(
        self.encoder_layers), 'decoder_layers': list(self.decoder_layers)}

  @classmethod
  def from_dict(cls, values):
    """HParams from a dict; raises ValueError for an unknown name or bad value."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
      raise errors.UsageError(
          f'unknown hparams {unknown}; known: {sorted(known)}.')
    return cls(**values)

  def parse(self, text):
    """A copy updated from magenta's syntax ('latent_size=8,beta=0.5')."""
    from magenta.contrib import training  # pylint: disable=g-import-not-at-top
    parsed = training.HParams(**self.to_dict())
    try:
      parsed.parse(text)
    except ValueError as e:
      raise errors.UsageError(
          f'cannot parse hparams "{text}" ({e}); use name=value with names '
          f'from {sorted(parsed.values())}, lists of integers as '
          '[512,64].') from None
    return self.from_dict(parsed.values())


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)
