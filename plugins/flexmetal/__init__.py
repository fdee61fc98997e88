"""i3D.net FlexMetal: the API client, the server lifecycle, and the Pulumi provider plugin."""
