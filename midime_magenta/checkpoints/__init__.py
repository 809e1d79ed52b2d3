"""MusicVAE checkpoints: find, check, fetch and read them (a wing).

The rest of the package enters here and nowhere else. Inside: checkpoint_lib
(resolving, the fit check, fingerprints), catalogue_lib (names and pins),
download_lib (fetches), tfjs_config_lib and tfjs_checkpoint_lib (Magenta.js).
"""

from midime_magenta import startup_lib as _startup_lib

_INNER = dict.fromkeys([
    'CheckpointError', 'build_config_variables', 'check_checkpoint_fits_config',
    'checkpoint_fingerprint', 'checkpoint_variables', 'config_of_variables',
    'config_variables', 'configs_matching', 'damaged_checkpoint_error',
    'quiet_graph_building', 'resolve_checkpoint'], 'checkpoint_lib')
_INNER.update(dict.fromkeys(['OFFICIAL_CHECKPOINTS', 'REFUSED_CHECKPOINTS',
                             'known_checkpoints'], 'catalogue_lib'))
_INNER.update(dict.fromkeys(['DownloadError', 'cache_root', 'fetch_tune',
                             'is_cached'], 'download_lib'))
__all__ = sorted(_INNER)
__getattr__, __dir__ = _startup_lib.front_door(
    __name__, _INNER, light=('catalogue_lib', 'download_lib'))
