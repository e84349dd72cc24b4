"""Dialogs and docks of the plugin: .ui files and the thin classes around them."""
