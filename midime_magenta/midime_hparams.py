"""MidiMe hyperparameters: one immutable record, Magenta.js's defaults."""

import dataclasses
import math

from midime_magenta import errors

# Far above what MidiMe needs, so no file or flag asks for gigabytes.
MAX_LATENT_SIZE = 512
MAX_LAYER_WIDTH = 16384
MAX_LAYERS = 16
MAX_EPOCHS = 1_000_000
MAX_PARAMETERS = 100_000_000  # 400 MB of float32: MidiMe's is ~0.8M.
# The named choices of the string hparams; the first is the default.
CHOICES = {'initializer': ('tfjs', 'keras'), 'optimizer': ('tfjs', 'keras')}
# The range of each number (a learning rate above 0).
_RANGES = {'latent_size': (1, MAX_LATENT_SIZE), 'num_epochs': (1, MAX_EPOCHS),
           'max_full_batch': (1, math.inf), 'beta': (0, math.inf),
           'learning_rate': (0, math.inf)}


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
      if f.type is str and value not in CHOICES[f.name]:
        raise errors.UsageError(
            f'{f.name} must be one of {list(CHOICES[f.name])}, got '
            f'{value!r}.')
      if f.type is int:
        value = errors.check_int(f.name, value, *_RANGES[f.name])
      elif f.type is float:
        value = errors.check_real(f.name, value, *_RANGES[f.name],
                                  low_open=f.name == 'learning_rate')
      elif f.type is not str:  # Layer widths.
        if not isinstance(value, (list, tuple)) or len(value) > MAX_LAYERS:
          raise errors.UsageError(
              f'{f.name} must be a list of at most {MAX_LAYERS} integers, '
              f'got {value!r}.')
        value = tuple(errors.check_int(f'each of {f.name}', w, 1,
                                       MAX_LAYER_WIDTH) for w in value)
      object.__setattr__(self, f.name, value)

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
    if unknown := sorted(set(values) - known):
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
