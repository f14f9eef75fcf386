"""Keys and sealed content: what a tenant owns is encrypted at rest (AES-256-GCM).

- :mod:`fabric.vault.provider`: the root key (``KeyProvider`` contract, local file provider);
- :mod:`fabric.vault.vault`: tenant keys, data keys, record sealing, blind index, rotation;
- :mod:`fabric.vault.keystore`: where wrapped keys and the destruction schedule live;
- :mod:`fabric.vault.content`: the sealed content store (voicemail, recordings, transcripts,
  SMS bodies) over a chunk backend (``fabric.storage`` has SQLite and Cassandra ones);
- :mod:`fabric.vault.shredding`: destruction of deleted objects' keys after the backup window;
- ``python -m fabric.vault``: rotate keys, re-wrap everything, sweep due destructions.
"""
