"""Compliance records of tenants (BAA, DPA, HIPAA mode, region) and the HIPAA gate."""
