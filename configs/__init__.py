"""The registered MidiMe configs, one JSON file each (read by midime_magenta.configs)."""
