"""Bringing a cluster up on one machine: the Cassandra launcher, the schema, local Ray nodes."""
