"""Steering MidiMe's samples: attribute vectors and rule constraints (a wing).

The rest of the package enters here and nowhere else. Inside: attributes_lib
(attribute vectors from the chunks), rules_lib (rules a sample satisfies or
not) and constraints_lib (a latent constraint trained on MidiMe's samples).
"""

from midime_magenta import startup_lib as _startup_lib

_INNER = {
    'ATTRIBUTES': 'attributes_lib', 'ATTRIBUTE_WORDS': 'attributes_lib',
    'PRIOR_SAMPLES': 'attributes_lib',
    'AttributeVectors': 'attributes_lib', 'check_enough_chunks': 'attributes_lib',
    'check_strengths': 'attributes_lib', 'compute_vectors': 'attributes_lib',
    'names_for': 'attributes_lib', 'parse_strengths': 'attributes_lib',
    'attributes_from_saved': 'attributes_lib:from_saved',
    'attributes_to_saved': 'attributes_lib:to_saved',
    'LatentConstraint': 'constraints_lib', 'format_report': 'constraints_lib',
    'rule_checker': 'constraints_lib', 'train_constraint': 'constraints_lib',
    'constraint_from_saved': 'constraints_lib:from_saved',
    'constraint_to_saved': 'constraints_lib:to_saved',
    'parse_rules': 'rules_lib',
}
__all__ = sorted(_INNER)
__getattr__, __dir__ = _startup_lib.front_door(__name__, _INNER,
                                                   light=('attributes_lib', 'rules_lib'))
