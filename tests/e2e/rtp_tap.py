"""Timestamps of the RTP packets between livekit-sip and the test phone, and of the WebRTC
packets to and from livekit-server, for the latency benchmark's split of a turn
(bench/phone_latency_bench.py).

Run inside the rig's network namespace, as root: everything there is addressed to the
namespace's own addresses, so it crosses ``lo``, where a packet socket sees each packet as it
arrives. One JSON line per PCMU packet: when it arrived (wall clock), which way
(``"to_phone"``: from livekit-sip's RTP ports; ``"from_phone"``: to them), the phone's port
and the packet's loudness (RMS of its μ-law samples decoded to 16-bit). With ``--rtc-port``,
also one line per UDP packet to or from livekit-server's WebRTC port: which way
(``"to_server"``, ``"from_server"``), the peer (the name of the process whose socket it is:
``livekit-sip``, or ``python`` for the agent) and its size (SRTP hides the audio; Opus sends
speech in larger packets than silence)::

    python rtp_tap.py --out rtp.jsonl --sip-ports 20000-20200 --rtc-port 7882
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import sys
import time
from types import FrameType

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
PCMU = 0


def _ulaw(byte: int) -> int:
    """G.711 μ-law to 16-bit linear."""
    byte = ~byte & 0xFF
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    return 0x84 - sample if byte & 0x80 else sample - 0x84


ULAW = [_ulaw(b) for b in range(256)]


def pcmu_rms(payload: bytes) -> float:
    if not payload:
        return 0.0
    return math.sqrt(sum(ULAW[b] ** 2 for b in payload) / len(payload))


def udp_ports(ip: bytes) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of an IPv4 UDP datagram."""
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
        return None
    udp = ip[(ip[0] & 0x0F) * 4 :]
    return int.from_bytes(udp[0:2]), int.from_bytes(udp[2:4]), udp[8:]


def rtp_packet(ip: bytes, sip_ports: range) -> tuple[str, int, bytes] | None:
    """(direction, the phone's port, PCMU payload) of an IPv4 datagram carrying RTP between
    livekit-sip and a phone; None for anything else."""
    ports = udp_ports(ip)
    if ports is None:
        return None
    source, dest, rtp = ports
    if (source in sip_ports) == (dest in sip_ports) or len(rtp) < 12:
        return None
    if rtp[0] >> 6 != 2 or rtp[1] & 0x7F != PCMU:
        return None
    start = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10:  # a header extension
        start += 4 + 4 * int.from_bytes(rtp[start + 2 : start + 4])
    if source in sip_ports:
        return "to_phone", dest, rtp[start:]
    return "from_phone", source, rtp[start:]


def owner(port: int) -> str:
    """The name of the process holding the UDP socket bound to ``port`` (this namespace's
    /proc/net/udp, then each process's descriptors), or "unknown"."""
    inode = None
    with open("/proc/net/udp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            if int(fields[1].split(":")[1], 16) == port:
                inode = fields[9]
                break
    if inode is None:
        return "unknown"
    wanted = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == wanted for fd in fds):
                with open(f"/proc/{pid}/comm") as comm:
                    return comm.read().strip()
        except OSError:
            continue
    return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--sip-ports", required=True, help="livekit-sip's RTP ports, A-B")
    parser.add_argument("--rtc-port", type=int, help="livekit-server's WebRTC UDP port")
    args = parser.parse_args()
    owners: dict[int, str] = {}
    low, high = (int(p) for p in args.sip_ports.split("-"))
    sip_ports = range(low, high + 1)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    tap.bind(("lo", 0))
    with open(args.out, "a", buffering=1) as out:
        print("tap ready", file=sys.stderr, flush=True)
        while True:
            data, address = tap.recvfrom(65535)
            at = time.time()
            if address[2] == PACKET_OUTGOING:  # each packet is taken as it arrives
                continue
            line: dict[str, object] | None = None
            ports = udp_ports(data)
            if args.rtc_port and ports and args.rtc_port in ports[:2]:
                source, dest, payload = ports
                to_server = dest == args.rtc_port
                peer = source if to_server else dest
                if peer not in owners:
                    owners[peer] = owner(peer)
                line = {
                    "t": at,
                    "dir": "to_server" if to_server else "from_server",
                    "peer": owners[peer],
                    "size": len(payload),
                }
            elif (packet := rtp_packet(data, sip_ports)) is not None:
                direction, port, payload = packet
                line = {"t": at, "dir": direction, "port": port, "rms": round(pcmu_rms(payload))}
            if line is not None:
                out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    sys.exit(main())
