"""The public gRPC API, generated from protos/fabric/api (versioned packages)."""
