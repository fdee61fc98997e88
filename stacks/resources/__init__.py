"""The program's resource classes and the schemas it shares with each plugin: one
`schema.py` per plugin (type tokens, inputs, outputs, secrets) and its `resources.py`."""
