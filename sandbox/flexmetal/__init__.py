"""A stand-in for i3D.net's FlexMetal API v3: faithful wire format, a real status walk,
fault injection, state kept across restarts, and real hosts for delivered servers."""
