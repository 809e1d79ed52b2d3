"""MusicVAE checkpoints: find, check, fetch and read them (a wing).

The rest of the package enters here and nowhere else. Inside: checkpoint_lib
(resolving, the fit check, fingerprints), catalogue_lib (names and pins),
download_lib (fetches), tfjs_config_lib and tfjs_checkpoint_lib (Magenta.js).
"""

from midime_magenta import startup_lib as _startup_lib

__all__ = [
    # Resolving and checking.
    'CheckpointError', 'build_config_variables', 'check_checkpoint_fits_config',
    'checkpoint_fingerprint', 'checkpoint_variables', 'config_of_variables',
    'config_variables', 'configs_matching', 'damaged_checkpoint_error',
    'quiet_graph_building', 'resolve_checkpoint',
    # The catalogue and its downloads.
    'OFFICIAL_CHECKPOINTS', 'REFUSED_CHECKPOINTS', 'known_checkpoints',
    'DownloadError', 'cache_root', 'fetch_tune', 'is_cached',
]
_INNER = {name: 'checkpoint_lib' for name in __all__[:11]}
_INNER.update({name: 'catalogue_lib' for name in __all__[11:14]})
_INNER.update({name: 'download_lib' for name in __all__[14:]})
__getattr__, __dir__ = _startup_lib.front_door(__name__, _INNER,
                                                   light=('catalogue_lib', 'download_lib'))
