"""Pull-request previews: which stacks a change touches, their previews, and the comment."""
