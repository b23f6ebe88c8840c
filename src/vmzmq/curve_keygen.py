"""Print a new CURVE key pair: ``python -m vmzmq.curve_keygen``, as pyzmq's
``python -m zmq.curve_keygen``.

Output, as libzmq's ``curve_keygen`` tool and pyzmq's (without libzmq's preamble)::

    == CURVE PUBLIC KEY ==
    <40 characters of Z85>

    == CURVE SECRET KEY ==
    <40 characters of Z85>

``--json`` prints ``{"public": ..., "secret": ...}`` instead; ``--secret KEY`` derives the
public key of an existing secret key rather than making a new pair. ``vmzmq keygen`` does the
same and can write a certificate pair (see ``vmzmq keygen --help``). Needs PyNaCl
(``pip install vmzmq[curve]``).
"""

from __future__ import annotations

import argparse
import json
import sys

from ._curve import curve_keypair, curve_public
from .error import ZMQError


def keys(secret: str | None = None) -> tuple[str, str]:
    """``(public, secret)`` as text: a new pair, or ``secret``'s with its public key."""
    if secret is None:
        public_b, secret_b = curve_keypair()
        return public_b.decode("ascii"), secret_b.decode("ascii")
    return curve_public(secret).decode("ascii"), secret


def render(public: str, secret: str, as_json: bool = False) -> str:
    """The text printed for a key pair."""
    if as_json:
        return json.dumps({"public": public, "secret": secret}, indent=1, sort_keys=True) + "\n"
    return f"== CURVE PUBLIC KEY ==\n{public}\n\n== CURVE SECRET KEY ==\n{secret}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vmzmq.curve_keygen",
        description="Print a new CURVE key pair (Z85 text).",
    )
    parser.add_argument("--json", action="store_true", help="print the keys as a JSON object")
    parser.add_argument(
        "--secret", metavar="KEY", help="print the public key of this secret key instead"
    )
    args = parser.parse_args(argv)
    try:
        public, secret = keys(args.secret)
    except (ZMQError, ValueError) as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(public, secret, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
