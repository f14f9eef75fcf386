"""Version 1 of the public gRPC API (package fabric.api.v1)."""
