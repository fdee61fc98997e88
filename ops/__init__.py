"""The operator's commands, run by hand or by CI around the Pulumi program: pull-request
previews and their comment, drift and its repair, fleet runs through the Automation API, a new
region, inventories from a stack's outputs."""
