"""MidiMe Studio, the page: `studio.launch()` (a wing; the `studio` extra).

The rest of the package enters here and nowhere else. Inside: page (the
Gradio layout and `launch`), studio_instrument (the paper's step 1),
studio_lib (a tab's session) and studio_server_lib (tabs, budgets, runs).
"""

from midime_magenta import startup_lib as _startup_lib

_INNER = {'launch': 'page', 'check_installed': 'page',
          'check_address': 'studio_server_lib', 'check_folder': 'studio_server_lib',
          'default_runs_dir': 'studio_server_lib'}
__all__ = sorted(_INNER)
__getattr__, __dir__ = _startup_lib.front_door(__name__, _INNER)
