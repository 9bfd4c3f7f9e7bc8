"""Undo: tools report what they change, a checkpoint per turn is built from those reports, and
`%agent undo` puts the files and namespace bindings back and takes the turn out of the transcript."""
