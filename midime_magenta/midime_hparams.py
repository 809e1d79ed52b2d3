"""MidiMe hyperparameters: one immutable record, parsed from JSON or flags.

Defaults are Magenta.js MidiMe's (music/src/music_vae/midi_me.ts): latent 4,
encoder Dense+ReLU [1024, 256, 64], decoder [64, 256, 1024], beta 1, Adam at
1e-3, one full batch per epoch. The demo trained 100 epochs on melodies and
300 on trios; the registered configs carry those.
"""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class HParams:
  """MidiMe hyperparameters.

  Attributes:
    latent_size: size of MidiMe's small latent space.
    encoder_layers: widths of the encoder's Dense+ReLU layers.
    decoder_layers: widths of the decoder's Dense+ReLU layers.
    beta: weight of the KL term in the loss.
    learning_rate: Adam's learning rate.
    num_epochs: training epochs (one pass over all chunks each).
    max_batch_size: an epoch is one full batch up to this many chunks, as in
      Magenta.js; above it, the epoch is split into shuffled mini-batches of
      this size, to bound memory on large collections.
  """
  latent_size: int = 4
  encoder_layers: tuple[int, ...] = (1024, 256, 64)
  decoder_layers: tuple[int, ...] = (64, 256, 1024)
  beta: float = 1.0
  learning_rate: float = 1e-3
  num_epochs: int = 100
  max_batch_size: int = 4096

  def __post_init__(self):
    for name in ('encoder_layers', 'decoder_layers'):
      object.__setattr__(self, name, tuple(int(w) for w in getattr(self, name)))
    checks = [
        (self.latent_size >= 1, 'latent_size must be at least 1',
         self.latent_size),
        (all(w >= 1 for w in self.encoder_layers + self.decoder_layers),
         'layer widths must be at least 1',
         self.encoder_layers + self.decoder_layers),
        (self.beta >= 0, 'beta must not be negative', self.beta),
        (self.learning_rate > 0 and math.isfinite(self.learning_rate),
         'learning_rate must be a positive number', self.learning_rate),
        (self.num_epochs >= 1, 'num_epochs must be at least 1',
         self.num_epochs),
        (self.max_batch_size >= 1, 'max_batch_size must be at least 1',
         self.max_batch_size),
    ]
    for ok, message, value in checks:
      if not ok:
        raise ValueError(f'{message}, got {value}.')

  def to_dict(self):
    values = dataclasses.asdict(self)
    for name in ('encoder_layers', 'decoder_layers'):
      values[name] = list(values[name])
    return values

  @classmethod
  def from_dict(cls, values):
    """Builds HParams from a dict, rejecting unknown names.

    Raises:
      ValueError: for an unknown name or a bad value.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
      raise ValueError(
          f'unknown hparams {unknown}; known: {sorted(known)}.')
    return cls(**values)

  def parse(self, text):
    """Returns a copy updated from 'name=value,name=value' (the --hparams flag).

    List values use colons: 'encoder_layers=512:64'.

    Raises:
      ValueError: for an unknown name or an unparsable value.
    """
    known = {f.name: f for f in dataclasses.fields(self)}
    changes = {}
    for item in filter(None, (s.strip() for s in text.split(','))):
      name, sep, value = item.partition('=')
      name = name.strip()
      if not sep or name not in known:
        raise ValueError(
            f'cannot parse hparam "{item}"; use name=value with names from '
            f'{sorted(known)}.')
      default = getattr(self, name)
      try:
        if isinstance(default, tuple):
          changes[name] = tuple(int(v) for v in value.split(':') if v)
        else:
          changes[name] = type(default)(value)
      except ValueError:
        kind = {int: 'an integer', float: 'a number'}.get(
            type(default), 'colon-separated integers')
        raise ValueError(
            f'hparam {name} needs {kind}, got "{value}".') from None
    return dataclasses.replace(self, **changes)
