"""The plugin's own modules. Importing this package does nothing."""
