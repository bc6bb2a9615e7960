"""The licences scenario's baseline: one raw SM2 loop, sign or verify, over 32-byte SM3 digests
with one key, as the keys service and the offline verifier call tongsuopy, on one thread.

Run as ``python -m bench._licencesraw --raw sign|verify --duration S [--warmup S]``. Prints one
JSON object: ``op``, ``ops``, ``seconds``, ``cpu_s`` (this process's CPU time in the measured
window) and ``late_s``. A module of its own with few imports, so that each raw run starts quickly.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import orjson

from bench._keysraw import measure
from runtime import algorithms
from services.licences.credential import sm3

RAW_WARMUP_S = 0.5
RAW_MESSAGES = 64  # distinct digests, each with its pre-made signature


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._licencesraw", description=__doc__)
    parser.add_argument("--raw", choices=("sign", "verify"), required=True)
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=RAW_WARMUP_S, help="warm-up seconds")
    args = parser.parse_args(argv)
    material = algorithms.generate("sm2")
    pem = algorithms.public_key_pem("sm2", material)
    digests = [sm3(f"bench licence {i}".encode()) for i in range(RAW_MESSAGES)]
    signatures = [algorithms.sign("sm2", material, d) for d in digests]
    if not all(
        algorithms.verify("sm2", pem, d, signature=s)
        for d, s in zip(digests, signatures, strict=True)
    ):
        raise SystemExit("a pre-made SM2 signature does not verify")
    turn = 0

    def verify() -> object:
        nonlocal turn
        turn = (turn + 1) % RAW_MESSAGES
        if not algorithms.verify("sm2", pem, digests[turn], signature=signatures[turn]):
            raise SystemExit("an SM2 signature did not verify")
        return None

    def sign() -> object:
        nonlocal turn
        turn = (turn + 1) % RAW_MESSAGES
        return algorithms.sign("sm2", material, digests[turn])

    call = verify if args.raw == "verify" else sign
    result = measure(call, time.time() + args.warmup, args.duration)
    print(orjson.dumps({"op": args.raw, **result}).decode(), flush=True)


if __name__ == "__main__":
    main()
