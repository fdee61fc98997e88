"""The Pulumi program: the PoP spec, the VoicePop component and the resources it owns."""
