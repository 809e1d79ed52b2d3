"""Steering MidiMe's samples: attribute vectors and rule constraints (a wing).

The rest of the package enters here and nowhere else. Inside: attributes_lib
(attribute vectors from the chunks), rules_lib (rules a sample satisfies or
not) and constraints_lib (a latent constraint trained on MidiMe's samples).
"""

from midime_magenta import startup_lib as _startup_lib

_INNER = dict.fromkeys([
    'ATTRIBUTES', 'ATTRIBUTE_WORDS', 'PRIOR_SAMPLES', 'AttributeVectors',
    'check_enough_chunks', 'check_strengths', 'compute_vectors', 'names_for',
    'parse_strengths'], 'attributes_lib')
_INNER.update(dict.fromkeys([
    'LatentConstraint', 'format_report', 'rule_checker', 'train_constraint'],
    'constraints_lib'), parse_rules='rules_lib',
    attributes_from_saved='attributes_lib:from_saved',
    attributes_to_saved='attributes_lib:to_saved',
    constraint_from_saved='constraints_lib:from_saved',
    constraint_to_saved='constraints_lib:to_saved')
__all__ = sorted(_INNER)
__getattr__, __dir__ = _startup_lib.front_door(
    __name__, _INNER, light=('attributes_lib', 'rules_lib'))
