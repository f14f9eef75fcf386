"""Version 1 of the internal actor messages (generated from protos/actors/messages/v1)."""
