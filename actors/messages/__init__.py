"""Internal protobuf messages and persisted state of the domain actors."""
