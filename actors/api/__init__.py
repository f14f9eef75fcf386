"""The gRPC API of the fabric: servicers that turn requests into actor messages.

Started as a gateway service inside the Ray cluster (``actors.api.server:start_api``).
"""
