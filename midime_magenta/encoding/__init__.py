"""Encoding a whole catalogue on Apache Beam, and reading it back (a wing).

The rest of the package enters here and nowhere else. Inside: encode_pipeline
(the Beam pipeline; only it and encode_run_lib, its runners, import Beam) and
encoded_lib (the shard format and its reader, which never imports Beam).
"""

from midime_magenta import startup_lib as _startup_lib

_INNER = dict.fromkeys([
    'DEFAULT_PIPELINE_OPTIONS', 'ENCODE_BATCH_SIZE', 'EncodedError',
    'load_training_data', 'read_manifest'], 'encoded_lib')
_INNER['encode'] = 'encode_pipeline'
__all__ = sorted(_INNER)
__getattr__, __dir__ = _startup_lib.front_door(__name__, _INNER,
                                               light=('encoded_lib',))
