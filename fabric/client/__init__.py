"""Typed async Python SDK for the fabric's gRPC API.

``FabricClient`` wraps the four services with typed methods that raise the same
:mod:`fabric.errors` classes the server raised (rebuilt from the status and error id);
``Softphone`` registers an extension and hands out its call events; ``CallAudio`` carries
one party's audio (SDES-SRTP to the fabric's media relay).
"""

from fabric.client.audio import CallAudio
from fabric.client.client import FabricClient
from fabric.client.softphone import Softphone

__all__ = ["CallAudio", "FabricClient", "Softphone"]
