"""What a client runs: the typed async Python SDK, the softphone media and the CLI.

``FabricClient`` wraps the four services with typed methods that raise the same
:mod:`fabric.errors` classes the server raised (rebuilt from the status and error id);
``Softphone`` registers an extension and hands out its call events; ``CallAudio`` carries
one party's audio (SDES-SRTP to the fabric's media relay, through
:mod:`fabric.client.phone_media`); :mod:`fabric.client.webrtc_phone` is a WebRTC phone on
aiortc; :mod:`fabric.client.cli` is the ``fabric`` command.
"""

from fabric.client.audio import CallAudio
from fabric.client.client import FabricClient
from fabric.client.softphone import Softphone

__all__ = ["CallAudio", "FabricClient", "Softphone"]
