"""C sources of the relay's compiled data plane (see :mod:`fabric.media.fastpath`)."""
