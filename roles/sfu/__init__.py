"""The SFU: the media server itself, installed, configured from the PoP spec and supervised."""
