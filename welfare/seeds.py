"""Seeds from names: every seeded generator in the toolkit derives its seed here.

Two recipes exist because changing either would change published numbers for the same config:
`stable_seed` (63 bits of SHA-256 over the parts joined by a unit separator) for designs,
bootstraps and the simulated subjects; `json_seed` (60 bits of the canonical-JSON SHA-256) for
the self-interaction analysis. Both are stable across processes, unlike `hash`.
"""

from __future__ import annotations

import hashlib

from welfare.models.base import sha256_hex

__all__ = ["json_seed", "stable_seed"]


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across processes."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def json_seed(*parts: object) -> int:
    """A 60-bit seed from the canonical JSON of the parts' strings."""
    return int(sha256_hex([str(p) for p in parts])[:15], 16)

