"""The project's own provider plugins, each a process the Pulumi engine starts (bin/launch):
FlexMetal's dedicated servers, Route 53 through boto3, and the host deploy. One dispatcher over
per-type handlers (plugin.py), wire values (properties.py), errors shown plainly (errors.py)."""
