"""The local stack: real emulators, every function in its own functions-framework process, a gateway.

`python -m local.stack` (what `make dev` runs) brings it all up and stops every process it started
on Ctrl-C. The test suite starts the same Stack on free ports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from functions import FUNCTIONS_DIR, function_names

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "infra" / "openapi.yaml"

DEV_TENANT = "dev-tenant"
DEFAULT_DEV_KEY = "your-api-key"
DEV_CLIENT_ID, DEV_CLIENT_SECRET = "your-client-id", "your-client-secret"  # OAuth2 client of the dev tenant

INSTALL_HINT = """\
The local stack needs the Google Cloud emulators:
  Firestore and Pub/Sub: install the gcloud CLI and its emulator components, e.g.
    gcloud components install cloud-firestore-emulator pubsub-emulator beta
    (or on Debian: apt-get install google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator)
  Cloud Storage: pip install gcp-storage-emulator   (part of requirements-dev.txt)
  BigQuery: pip install bqemulator duckdb-extensions duckdb-extension-spatial numpy   (requirements-dev.txt)
and Java 17 or newer on PATH."""


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ports:
    gateway: int = 8080
    firestore: int = 8681
    pubsub: int = 8685
    storage: int = 9023
    first_function: int = 8101
    bigquery: int = 9050

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), 0, free_port())


# Processes per function, where one is not enough: in the cloud Pub/Sub push scales `worker` out to
# many instances (one chunk each); locally two processes take chunks side by side, one per core.
FUNCTION_PROCESSES = {"worker": 2}
FUNCTIONS_TF = ROOT / "infra" / "functions.tf"


def function_timeouts(path: Path = FUNCTIONS_TF) -> dict[str, int]:
    """Each function's request timeout in seconds: `timeout` of its entry in `local.functions` of
    infra/functions.tf, which Terraform makes its Cloud Run service's timeout_seconds. Read from there,
    so the local stack and the cloud cannot drift apart."""
    import hcl2

    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    for block in hcl2.loads(path.read_text(), serialization_options=options).get("locals", []):
        if "functions" in block:
            return {name: int(spec["timeout"]) for name, spec in block["functions"].items()}
    raise StackError(f"{path} has no local.functions")


def function_process(
    name: str, port: int, source: Path | None = None, timeout: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command and the environment (on top of the stack's) of one function's functions-framework process.

    The request timeout is what Cloud Run enforces in the cloud: there the response is cut off after
    timeout_seconds (504; a push delivery counts as failed and comes again). functions-framework's
    gunicorn does the same when given CLOUD_RUN_TIMEOUT_SECONDS, the variable Cloud Run sets for it;
    with more than one thread per process (its default) only its threaded timeout does, which
    THREADED_TIMEOUT_ENABLED turns on: the request's thread gets a RequestTimeoutException (raised
    between Python bytecodes, so a call blocked in C ends first; every client call here has its own
    deadline, shorter than any function's timeout).
    """
    timeout = function_timeouts()[name] if timeout is None else timeout
    argv = [
        sys.executable,
        "-m",
        "local.function_server",  # functions-framework, its timeout fixed (see there)
        f"--target={name}",
        f"--source={source or FUNCTIONS_DIR / name / 'main.py'}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    env = {
        "WORKERS": str(FUNCTION_PROCESSES.get(name, 1)),  # read by functions-framework's gunicorn
        "CLOUD_RUN_TIMEOUT_SECONDS": str(timeout),
        "THREADED_TIMEOUT_ENABLED": "true",
    }
    return argv, env


def emulator_env(ports: Ports, project: str) -> dict[str, str]:
    """What points the Google client libraries at the emulators (the one place their addresses are written)."""
    return {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports.firestore}",
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{ports.pubsub}",
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports.storage}",
        "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{ports.bigquery}",
    }


@dataclass
class Stack:
    ports: Ports = field(default_factory=Ports)
    project: str = "coatro-local"
    api_key: str = DEFAULT_DEV_KEY
    workdir: Path | None = None
    quiet: bool = True  # function and gateway output go to log files instead of the terminal
    settings_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    function_ports: dict[str, int] = field(default_factory=dict)
    jwks: object | None = None  # local.jwks_server.JwksServer: the signing account's public keys (OAuth2)
    # The read side: the BigQuery emulator and the BigQuery subscription stand-in. The ingestion benchmarks
    # leave it out: in the cloud that subscription costs the functions nothing, while locally it doubles
    # the Pub/Sub emulator's work (every event stored and delivered twice).
    reports: bool = True

    # -- addresses -------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.storage}"

    def env(self) -> dict[str, str]:
        """The environment that points the Google client libraries and our settings at this stack."""
        return {
            **emulator_env(self.ports, self.project),
            "COATRO_STORAGE_PUBLIC_URL": self.storage_url,
            "COATRO_SIGNING_KEY_FILE": str(self._dir() / "signing-key.json"),
            "COATRO_CURSOR_SECRET": self._cursor_secret(),
            **self.settings_env,
        }

    def _cursor_secret(self) -> str:
        """The plays cursor's HMAC key: generated once per stack directory, never committed."""
        path = self._dir() / "cursor-secret"
        if not path.exists():
            import secrets

            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def _dir(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="coatro-stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        return self.workdir

    # -- lifecycle -------------------------------------------------------------------------
    def start_emulators(self) -> None:
        self._dir()
        if not shutil.which("gcloud"):
            raise StackError("gcloud was not found on PATH.\n" + INSTALL_HINT)
        try:
            import gcp_storage_emulator  # noqa: F401
        except ImportError:
            raise StackError(
                "gcp-storage-emulator is not installed in this environment.\n" + INSTALL_HINT
            ) from None
        if self.reports:
            try:
                from local import bigquery

                bigquery.install_spatial_extension()
            except ImportError as exc:
                raise StackError(
                    f"the BigQuery emulator is not installed in this environment ({exc}).\n" + INSTALL_HINT
                ) from None
        self._spawn(
            "firestore",
            [
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port=127.0.0.1:{self.ports.firestore}",
                "--quiet",
            ],
            console=False,
        )
        self._spawn(
            "pubsub",
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{self.ports.pubsub}",
                f"--project={self.project}",
                "--quiet",
            ],
            console=False,
        )
        self._spawn(
            "storage",
            [
                sys.executable,
                "-m",
                "local.storage_emulator",
                "start",
                "--host=127.0.0.1",
                f"--port={self.ports.storage}",
                "--in-memory",
            ],
            console=False,
        )
        if self.reports:  # persistent (a DuckDB file in the work directory): in memory, its memory only grows
            self._spawn(
                "bigquery",
                [
                    str(Path(sys.executable).parent / "bqemulator"),
                    "start",
                    "--rest-host=127.0.0.1",
                    f"--rest-port={self.ports.bigquery}",
                    "--grpc-port=0",
                    "--persistent",
                    f"--data-dir={self._dir() / 'bigquery'}",
                    f"--project={self.project}",
                    "--log-level=warning",
                ],
                console=False,
            )
        self._wait_http("firestore", f"http://127.0.0.1:{self.ports.firestore}/", timeout=90)
        self._wait_http("pubsub", f"http://127.0.0.1:{self.ports.pubsub}/", timeout=90)
        self._wait_http("storage", f"{self.storage_url}/storage/v1/b", timeout=60)
        if self.reports:
            self._wait_http(
                "bigquery",
                f"http://127.0.0.1:{self.ports.bigquery}/bigquery/v2/projects/{self.project}/datasets",
                timeout=90,
            )
        os.environ.update(self.env())
        from local import provision

        provision.signing_key(Path(self.env()["COATRO_SIGNING_KEY_FILE"]))

    def start_services(self) -> None:
        """Provision topics, bucket and dev key, then start every function and the gateway."""
        from local import provision

        provision.resources(reports=self.reports)
        provision.dev_key(self.api_key, DEV_TENANT)
        provision.dev_client(DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT)
        port = self.ports.first_function
        for name in function_names():
            self.function_ports[name] = port or free_port()
            port = port + 1 if port else 0
        provision.push_subscriptions(self)
        for name, fport in self.function_ports.items():
            argv, extra_env = function_process(name, fport)
            self._spawn(f"fn-{name}", argv, extra_env=extra_env)
        backends = {f"{name}_url": f"http://127.0.0.1:{p}" for name, p in self.function_ports.items()}
        self._spawn(
            "gateway",
            [
                sys.executable,
                "-m",
                "local.gateway",
                "--port",
                str(self.ports.gateway),
                "--backends",
                json.dumps(backends),
                "--auth",
                json.dumps(self.token_variables()),
            ],
        )
        if self.reports:
            self._spawn("bigquery-subscription", [sys.executable, "-m", "local.bigquery_subscription"])
        if "sweeper" in self.function_ports:
            self._spawn("scheduler", [sys.executable, "-m", "local.scheduler"])
        if "splitter" in self.function_ports:
            self._spawn(
                "storage-bridge",
                [
                    sys.executable,
                    "-m",
                    "local.storage_bridge",
                    "--splitter",
                    f"http://127.0.0.1:{self.function_ports['splitter']}",
                ],
            )
        for name, fport in self.function_ports.items():
            self._wait_port(f"fn-{name}", fport)
        self._wait_port("gateway", self.ports.gateway)

    def token_variables(self) -> dict[str, str]:
        """OAuth2: what Terraform renders into the OpenAPI document's securityDefinitions, for this stack:
        the local signing account as issuer, its JWKS served by a stand-in of googleapis.com's."""
        from local.jwks_server import JwksServer
        from shared.platform.settings import Settings

        if self.jwks is None:
            self.jwks = JwksServer(self.env()["COATRO_SIGNING_KEY_FILE"]).start()
        settings = Settings()
        return {
            "token_issuer": settings.token_issuer or self.jwks.email,
            "token_jwks_uri": self.jwks.jwks_uri,
            "token_audience": settings.token_audience,
        }

    def start(self) -> Stack:
        try:
            self.start_emulators()
            self.start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Each child leads its own process group: signalling the group also ends the emulators' Java children.
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader
            except ProcessLookupError:
                pass
        self.procs.clear()
        if self.jwks is not None:
            self.jwks.stop()
            self.jwks = None

    @contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """Freeze one process group (say the Pub/Sub emulator) with SIGSTOP, and thaw it on exit:
        to the clients it looks like a service that accepts connections and never answers."""
        pid = self.procs[name].pid
        os.killpg(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(pid, signal.SIGCONT)

    # -- helpers ---------------------------------------------------------------------------
    def _spawn(
        self, name: str, argv: list[str], console: bool | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        console = (not self.quiet) if console is None else console
        log = None if console else open(self._dir() / "logs" / f"{name}.log", "ab")
        # Own XDG_RUNTIME_DIR: gunicorn's control socket lives there, one per function process.
        runtime = self._dir() / "run" / name
        runtime.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env(),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "XDG_RUNTIME_DIR": str(runtime),
            **(extra_env or {}),
        }
        try:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise StackError(f"could not start {name}: {exc}\n{INSTALL_HINT}") from None

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self._dir() / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            hint = INSTALL_HINT if name in ("firestore", "pubsub", "storage", "bigquery") else ""
            raise StackError(f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}\n{hint}")

    def _wait_http(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise StackError(
            f"{name} did not become ready within {timeout}s:\n{self.log_tail(name)}\n{INSTALL_HINT}"
        )

    def _wait_port(self, name: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise StackError(f"{name} did not listen on {port} within {timeout}s:\n{self.log_tail(name)}")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    import argparse

    defaults = Ports()
    parser = argparse.ArgumentParser(description="Run the Coatro local stack (Ctrl-C stops it).")
    parser.add_argument("--gateway-port", type=int, default=defaults.gateway)
    parser.add_argument("--firestore-port", type=int, default=defaults.firestore)
    parser.add_argument("--pubsub-port", type=int, default=defaults.pubsub)
    parser.add_argument("--storage-port", type=int, default=defaults.storage)
    parser.add_argument("--bigquery-port", type=int, default=defaults.bigquery)
    parser.add_argument(
        "--functions-port", type=int, default=defaults.first_function, help="first of one per function"
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".local-stack")
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print the emulator environment of a stack on these ports (for `make tail`, `make key`) and exit",
    )
    args = parser.parse_args(argv)
    ports = Ports(
        args.gateway_port,
        args.firestore_port,
        args.pubsub_port,
        args.storage_port,
        args.functions_port,
        args.bigquery_port,
    )
    if args.print_env:
        print(" ".join(f"{k}={v}" for k, v in emulator_env(ports, "coatro-local").items()))
        return
    api_key = os.environ.get("COATRO_DEV_API_KEY", DEFAULT_DEV_KEY)
    stack = Stack(ports=ports, api_key=api_key, workdir=args.workdir, quiet=False)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the stack as cleanly as Ctrl-C
    # Ctrl-C too, even when started with SIGINT ignored (a background job of a shell without job
    # control inherits that, and Python then installs no KeyboardInterrupt handler).
    signal.signal(signal.SIGINT, _interrupt)
    try:
        stack.start()
        print(
            f"\nCoatro local stack ready in {time.monotonic() - started:.0f}s\n"
            f"  API:        {stack.gateway_url}\n"
            f"  API key:    {stack.api_key}   (tenant {DEV_TENANT}; set COATRO_DEV_API_KEY to change)\n"
            f"  OAuth2:     client_id {DEV_CLIENT_ID}, client_secret {DEV_CLIENT_SECRET}  (POST /coatro/v1/oauth/token)\n"
            f"  storage:    {stack.storage_url}\n"
            f"  BigQuery:   http://127.0.0.1:{stack.ports.bigquery} (table {stack.project}.coatro_pop.events_raw)\n"
            f"  functions:  {', '.join(f'{n}:{p}' for n, p in stack.function_ports.items())}\n"
            f"  logs:       {stack.workdir / 'logs'}\n"
            f"  see events: make tail\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for name in stack.procs:
                stack._check_alive(name)
            time.sleep(1)
    except StackError as exc:
        print(f"\nlocal stack failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the local stack...", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
