"""Test helpers and fixture builders for midime_magenta: never installed.

The package (`midime_magenta`) must not import this; tests, bin/ and bench/ do.
"""
