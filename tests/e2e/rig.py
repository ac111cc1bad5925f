"""The real LiveKit stack on this machine: Redis, livekit-server and livekit-sip inside a
network namespace of their own.

WebRTC needs a non-loopback interface (libwebrtc and pion both skip 127/8), so the namespace
has ``lo`` and a veth interface carrying ``RIG_IP``, an address from the benchmarking range
(198.18.0.0/15) that exists only inside the namespace and has no route out. Every process of
a test that talks to the stack (the worker, the operator command, the test phone, the
provider stand-ins) runs in the same namespace through :meth:`Rig.spawn` / :meth:`Rig.run`.

``python tests/e2e/rig.py up`` (what ``scripts/rig up`` runs) starts it for a person to
watch; the tests use :class:`Rig` directly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".rig" / "bin"
RIG_IP = "198.18.0.2"
API_KEY = "rigkey"

LIVEKIT_PORT = 7880
RTC_TCP_PORT = 7881
RTC_UDP_PORT = 7882
REDIS_PORT = 6379
SIP_PORT = 5060  # livekit-sip's UDP/TCP signalling
SIP_TLS_PORT = 5071  # livekit-sip's own TLS listener (5061 belongs to the phone)
SIP_RTP_PORTS = (20000, 20200)
PHONE_TLS_PORT = 5061


def missing_prerequisites() -> str | None:
    """Why the rig cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "the rig needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the rig needs root (it creates a network namespace)"
    for tool in ("ip", "redis-server", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/rig build installs it)"
    for binary in ("livekit-server", "livekit-sip"):
        if not (BIN / binary).exists():
            return f".rig/bin/{binary} is not built (run scripts/rig build; needs Go)"
    return None


SERVER_STARTED = "starting LiveKit server"


@dataclass
class Proc:
    """A process started in the namespace, its output in ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def wait_for(self, text: str, timeout: float) -> None:
        """Until ``text`` appears in the log; fails with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text():
                return
            if not self.alive():
                break
            time.sleep(0.1)
        tail = "\n".join(self.text().splitlines()[-40:])
        state = "exited" if not self.alive() else "still running"
        raise RuntimeError(f"{self.name} ({state}) never logged {text!r}; its log ends:\n{tail}")


@dataclass
class Rig:
    """The stack, in namespace ``netns``, with its files under ``workdir``."""

    workdir: Path
    netns: str = field(default_factory=lambda: f"ocrig{os.getpid()}")
    api_secret: str = field(default_factory=lambda: secrets.token_hex(24))
    procs: list[Proc] = field(default_factory=list)

    @property
    def livekit_url(self) -> str:
        return f"ws://{RIG_IP}:{LIVEKIT_PORT}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.pem"

    @property
    def phone_cert(self) -> tuple[Path, Path]:
        return self.workdir / "phone.pem", self.workdir / "phone.key"

    def livekit_env(self) -> dict[str, str]:
        return {
            "LIVEKIT_URL": self.livekit_url,
            "LIVEKIT_API_KEY": API_KEY,
            "LIVEKIT_API_SECRET": self.api_secret,
        }

    # -- the namespace ------------------------------------------------------------------

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def _make_netns(self) -> None:
        self._ip("netns", "add", self.netns)
        self._ip("-n", self.netns, "link", "set", "lo", "up")
        # a veth pair with both ends inside: an ordinary, running interface to carry RIG_IP
        # (this kernel has no dummy interfaces)
        self._ip("-n", self.netns, "link", "add", "rig0", "type", "veth", "peer", "name", "rig1")
        self._ip("-n", self.netns, "addr", "add", f"{RIG_IP}/24", "dev", "rig0")
        self._ip("-n", self.netns, "link", "set", "rig0", "up")
        self._ip("-n", self.netns, "link", "set", "rig1", "up")

    def _in_ns(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv]

    def spawn(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> Proc:
        """Start ``argv`` in the namespace, in its own process group, output to a log."""
        log = self.workdir / f"{name}.log"
        out = log.open("ab")
        popen = subprocess.Popen(
            self._in_ns(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=self.workdir,
            start_new_session=True,
        )
        out.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace to completion; stdout and stderr are captured."""
        return subprocess.run(
            self._in_ns(argv),
            env={**os.environ, **(env or {})},
            cwd=cwd or self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def wait_port(self, port: int, *, host: str = RIG_IP, timeout: float = 30.0) -> None:
        """Until something accepts TCP connections on ``host:port`` inside the namespace."""
        probe = (
            "import socket,sys\n"
            "s=socket.socket(); s.settimeout(0.5)\n"
            f"sys.exit(s.connect_ex(({host!r},{port})))\n"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run([sys.executable, "-c", probe], timeout=10).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"nothing listens on {host}:{port} in {self.netns}")

    # -- certificates -------------------------------------------------------------------

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.workdir)

    def _make_certs(self) -> None:
        """A test CA, and a certificate from it for each TLS listener (the phone's and the
        SIP service's). livekit-sip checks the phone's chain against SSL_CERT_FILE."""
        self._openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-subj",
            "/CN=outbound-caller rig CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        )
        ext = self.workdir / "san.ext"
        ext.write_text(f"subjectAltName=IP:{RIG_IP}\nbasicConstraints=CA:FALSE\n")
        for name in ("phone", "sip"):
            self._openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-subj",
                f"/CN={RIG_IP}",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
            )
            self._openssl(
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-sha256",
                "-extfile",
                "san.ext",
                "-out",
                f"{name}.pem",
            )

    # -- the servers --------------------------------------------------------------------

    def _server_config(self) -> Path:
        path = self.workdir / "livekit.yaml"
        path.write_text(
            f"port: {LIVEKIT_PORT}\n"
            f"bind_addresses: [{RIG_IP}, 127.0.0.1]\n"
            f"keys:\n  {API_KEY}: {self.api_secret}\n"
            f"redis:\n  address: 127.0.0.1:{REDIS_PORT}\n"
            "rtc:\n"
            f"  tcp_port: {RTC_TCP_PORT}\n"
            f"  udp_port: {RTC_UDP_PORT}\n"
            f"  node_ip: {RIG_IP}\n"
            "  use_external_ip: false\n"
            f"  ips:\n    includes: [{RIG_IP}/32]\n"
            "logging:\n  level: info\n"
        )
        return path

    def _sip_config(self) -> Path:
        path = self.workdir / "sip.yaml"
        path.write_text(
            f"api_key: {API_KEY}\n"
            f"api_secret: {self.api_secret}\n"
            f"ws_url: {self.livekit_url}\n"
            f"redis:\n  address: 127.0.0.1:{REDIS_PORT}\n"
            f"sip_port: {SIP_PORT}\n"
            f"rtp_port: {SIP_RTP_PORTS[0]}-{SIP_RTP_PORTS[1]}\n"
            f"nat_1_to_1_ip: {RIG_IP}\n"
            "tls:\n"
            f"  port: {SIP_TLS_PORT}\n"
            f"  certs:\n    - cert_file: {self.workdir / 'sip.pem'}\n"
            f"      key_file: {self.workdir / 'sip.key'}\n"
            "logging:\n  level: debug\n"
            "health_port: 8089\n"
            # a 2-core test machine is briefly at full CPU while the worker starts, and the
            # SIP service would refuse calls then ("cpu exhausted"): take calls whatever the load
            "max_cpu_utilization: 1.0\n"
        )
        return path

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._make_netns()
            self._make_certs()
            redis = self.spawn(
                "redis",
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(REDIS_PORT),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
            redis.wait_for("Ready to accept connections", 20)
            self._start_server()
            sip = self.spawn(
                "livekit-sip",
                [str(BIN / "livekit-sip"), "--config", str(self._sip_config())],
                env={"SSL_CERT_FILE": str(self.ca_file)},
            )
            self.wait_port(SIP_PORT)
            sip.wait_for("sip signaling listening", 20)
        except BaseException:
            self.stop()
            raise

    def _start_server(self) -> Proc:
        started = SERVER_STARTED.encode()
        log = self.workdir / "livekit-server.log"
        before = log.read_bytes().count(started) if log.exists() else 0
        server = self.spawn(
            "livekit-server",
            [str(BIN / "livekit-server"), "--config", str(self._server_config())],
        )
        self.wait_port(LIVEKIT_PORT)
        deadline = time.monotonic() + 20
        while log.read_bytes().count(started) == before:  # this run's line, not the last one's
            if time.monotonic() > deadline or not server.alive():
                raise RuntimeError(
                    f"livekit-server did not start; its log ends:\n{server.text()[-2000:]}"
                )
            time.sleep(0.1)
        return server

    def restart_server(self) -> None:
        """Stop livekit-server and start it again with the same settings: every client's
        connection drops, and the rooms' state stays in Redis."""
        old = next(p for p in self.procs if p.name == "livekit-server")
        old.stop()
        self.procs.remove(old)
        self._start_server()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)


def _up() -> int:
    import tempfile

    rig = Rig(Path(tempfile.mkdtemp(prefix="outbound-caller-rig-")))
    rig.start()
    print(f"rig up in network namespace {rig.netns} (files and logs in {rig.workdir})")
    print(f"  livekit-server  {rig.livekit_url}  (RTC udp {RTC_UDP_PORT}, tcp {RTC_TCP_PORT})")
    print(f"  livekit-sip     sip:{RIG_IP}:{SIP_PORT} (udp/tcp), TLS {SIP_TLS_PORT}")
    print(f"  redis           127.0.0.1:{REDIS_PORT} (inside the namespace)")
    print(f"  test CA         {rig.ca_file}")
    for key, value in rig.livekit_env().items():
        print(f"  {key}={value}")
    print(f"run a command in it: ip netns exec {rig.netns} <command>;  Ctrl-C stops the rig")
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        rig.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["up"]:
        print("usage: rig.py up", file=sys.stderr)
        sys.exit(2)
    problem = missing_prerequisites()
    if problem:
        print(f"rig: {problem}", file=sys.stderr)
        sys.exit(1)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(_up())
