"""The whole stack as one object: ``make run`` and the test fixtures both start it here.

Start order follows dependencies: PostgreSQL, NATS, storage and (with ``auth``) the local OIDC
provider; then the indexer (it runs the migrations); then STOW, QIDO, WADO and DELOW; then the
gateway. Each stage's components start in parallel and the next stage begins only when all are
healthy. ``stop`` goes in reverse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from dicomcommon.settings import StorageSettings
from dicomcommon.web.routes import ALL_SERVICES, DICOMWEB_ROOT, DIMSE_SERVICE, GATEWAY_ROUTES
from dicomstack import ownership, ports, services, storage, viewer
from dicomstack.component import Component
from dicomstack.errors import StackError
from dicomstack.gateway import Gateway
from dicomstack.nats import Nats
from dicomstack.oidc import AUDIENCE, OidcProvider
from dicomstack.postgres import Postgres
from dicomstack.processes import ChildProcess
from dicomstack.recovery import RestartRounds
from dicomstack.settings import StackSettings

BACKING = ("postgres", "nats", "seaweedfs", "oidc")
# Each fixed port setting and the component that listens on it.
_FIXED_PORTS = {
    "gateway_port": "gateway",
    "gateway_ping_port": "gateway",
    "gateway_fallback_port": "gateway",
    "postgres_port": "postgres",
    "nats_port": "nats",
    "nats_monitor_port": "nats",
    "seaweedfs_s3_port": "seaweedfs",
    "oidc_port": "oidc",
    "dimse_port": DIMSE_SERVICE,
}


class Stack:
    """Every component, its address and log; usable as a context manager."""

    def __init__(self, settings: StackSettings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.host = settings.host
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self._ports = ports.resolve(self.host, self._wanted_ports())
        self._backing = self._backing_components()
        self.service_urls = self._service_urls()
        environ = os.environ if environ is None else environ
        self.gateway = Gateway(
            *self._home("gateway"),
            (
                self._ports["gateway_port"],
                self._ports["gateway_ping_port"],
                self._ports["gateway_fallback_port"],
            ),
            self.service_urls,
            services.tracing_settings(environ),
        )
        self.replicas = self._replicas(environ)
        self.reaped: list[str] = []  # leftovers of a dead launcher stopped by ``start``
        self._lock = ownership.DataDirLock(self.data_dir)
        self._rounds = RestartRounds(
            self._components, self._record, self._routed, settings.startup_timeout
        )

    # -- addresses -------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def viewer_root(self) -> Path | None:
        """The installed web viewer's files (``make install`` with npm), or None."""
        return viewer.installed(self.settings.viewer_dir)

    @property
    def viewer_url(self) -> str:
        return f"{self.gateway_url}/viewer/"

    @property
    def dicomweb_url(self) -> str:
        return self.gateway_url + DICOMWEB_ROOT

    @property
    def postgres_url(self) -> str:
        if self.settings.postgres_url is not None:
            return self.settings.postgres_url.get_secret_value()
        return self._postgres().url

    @property
    def nats_url(self) -> str:
        return self.settings.nats_url or self._nats().url

    @property
    def oidc(self) -> OidcProvider | None:
        """The local OIDC provider, when the stack runs with authentication."""
        found = self._backing.get("oidc")
        return found if isinstance(found, OidcProvider) else None

    @property
    def storage(self) -> StorageSettings:
        embedded = self._backing.get("seaweedfs")
        if isinstance(embedded, storage.EmbeddedS3):
            return embedded.settings
        if self.settings.storage == "external":
            return storage.external(self.settings)
        return storage.filesystem(self.data_dir)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start stage by stage; on any failure stop what did start, then re-raise.

        First take the data directory's lock and stop what a dead launcher left running."""
        self._lock.acquire()
        try:
            self.reaped = ownership.reap(self.data_dir)
            self.check_ports()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for stage in self._stages():
                for component in stage:
                    component.spawn()
                self._record()
                for component in stage:
                    component.wait_healthy(self.settings.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for component in reversed(self._components()):
            component.stop()
        if self._lock.held:
            self._record()
        self._lock.release()

    def check_ports(self) -> None:
        """Fail before starting anything if a fixed port we would listen on is taken."""
        for key, owner in _FIXED_PORTS.items():
            starts = owner in ("gateway", DIMSE_SERVICE) or owner in self._backing
            if starts and getattr(self.settings, key):
                ports.ensure_free(self.host, self._ports[key], f"DICOMWEB_STACK_{key.upper()}")
        if self.settings.service_base_port:
            for key in self.replica_names():
                setting = "DICOMWEB_STACK_SERVICE_BASE_PORT"
                ports.ensure_free(self.host, self._ports[key], setting)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- faults and recovery (tests, and the supervisor loop of ``run``) -----------------------

    def component(self, name: str, replica: int = 0) -> Component:
        """``postgres``, ``nats``, ``seaweedfs``, ``gateway``, or a service (``replica`` picks)."""
        if name in self._backing:
            return self._backing[name]
        if name == "gateway":
            return self.gateway
        if name in self.replicas:
            return self.replicas[name][replica]
        raise KeyError(f"no component {name!r} in this stack")

    def kill(self, name: str, replica: int = 0) -> None:
        """SIGKILL, as a crash would; it stays down until ``restart``."""
        self.component(name, replica).kill()

    def restart(self, name: str, replica: int = 0) -> None:
        self._restart(self.component(name, replica))

    def restart_with(self, name: str, env: Mapping[str, str | None]) -> None:
        """Restart every replica of service ``name`` with these variables set (``None``
        removes one): a setting tried on the running stack, then put back the same way."""
        for component in self._named(name):
            assert isinstance(component, ChildProcess) and component.env is not None
            for key, value in env.items():
                if value is None:
                    component.env.pop(key, None)
                else:
                    component.env[key] = value
            self._restart(component)

    def stop_component(self, name: str) -> None:
        """Stop a component, or every replica of a service (an outage)."""
        for component in self._named(name):
            component.stop()

    def start_component(self, name: str) -> None:
        for component in self._named(name):
            self._restart(component)

    def restart_crashed(self) -> tuple[list[str], list[tuple[str, str]]]:
        """One round of the watch (``dicomstack.recovery``): (restarted names, (name, error)
        failed)."""
        return self._rounds.run()

    def describe(self) -> Iterator[tuple[str, str, str]]:
        """(component, address, log file) for everything this stack started."""
        for name, component in self._backing.items():
            yield name, self._address(name), str(component.log_path)
        for name, replicas in self.replicas.items():
            for index, replica in enumerate(replicas):
                yield replica.name, self.service_urls[name][index], str(replica.log_path)
        yield "gateway", self.gateway_url, str(self.gateway.log_path)

    # -- wiring ----------------------------------------------------------------------------

    def _restart(self, component: Component) -> None:
        component.stop()
        component.spawn()
        self._record()
        component.wait_healthy(self.settings.startup_timeout)
        self._wait_routed(component)

    def _routed(self, component: Component) -> bool:
        """Whether the gateway sends a restarted replica traffic again (always true for a
        component that is not a replica, or while the gateway itself is down). DIMSE takes no HTTP
        traffic through the gateway: it is back once healthy."""
        for name, replicas in self.replicas.items():
            routed = any(r.service == name for r in GATEWAY_ROUTES)
            if component in replicas and self.gateway.running and routed:
                url = self.service_urls[name][replicas.index(component)]
                return self.gateway.routes_to(name, url)
        return True

    def _wait_routed(self, component: Component) -> None:
        """A restarted replica is back only once the gateway sends it traffic again; until its
        next health check Traefik answers 503 for a service whose replicas were all down."""
        deadline = time.monotonic() + self.settings.startup_timeout
        while not self._routed(component):
            if time.monotonic() > deadline:
                raise StackError(f"the gateway does not route to {component.name} again")
            time.sleep(0.05)

    def _components(self) -> list[Component]:
        return [component for stage in self._stages() for component in stage]

    def _record(self) -> None:
        children = [c for c in self._components() if isinstance(c, ChildProcess)]
        ownership.record(self.data_dir, children)

    def _named(self, name: str) -> list[Component]:
        if name in self.replicas:
            return list(self.replicas[name])
        return [self.component(name)]

    def _stages(self) -> list[list[Component]]:
        others: list[Component] = [
            r for name, rs in self.replicas.items() if name != "indexer" for r in rs
        ]
        return [
            list(self._backing.values()),
            [*self.replicas["indexer"]],
            others,
            [self.gateway],
        ]

    def _wanted_ports(self) -> dict[str, int]:
        wanted = {key: int(getattr(self.settings, key)) for key in _FIXED_PORTS}
        base = self.settings.service_base_port
        for offset, key in enumerate(self.replica_names()):
            wanted[key] = base + offset if base else 0
        return wanted

    def replica_names(self) -> list[str]:
        count = self.settings.replica_count
        return [f"{s}-{i}" for s in ALL_SERVICES for i in range(count(s))]

    def _home(self, name: str) -> tuple[Path, Path, str]:
        """Where the component ``name`` keeps its data and its log, and the host it serves."""
        return self.data_dir / name, self.log_dir / f"{name}.log", self.host

    def _backing_components(self) -> dict[str, Component]:
        found: dict[str, Component] = {}
        if self.settings.postgres_url is None:
            found["postgres"] = Postgres(*self._home("postgres"), self._ports["postgres_port"])
        if self.settings.nats_url is None:
            monitor_port = self._ports["nats_monitor_port"]
            found["nats"] = Nats(*self._home("nats"), self._ports["nats_port"], monitor_port)
        if self.settings.storage == "seaweedfs":
            s3_port = self._ports["seaweedfs_s3_port"]
            found["seaweedfs"] = storage.EmbeddedS3(self.data_dir / "seaweedfs", self.host, s3_port)
        if self.settings.auth:
            found["oidc"] = OidcProvider(*self._home("oidc"), self._ports["oidc_port"])
        return found

    def _service_urls(self) -> dict[str, list[str]]:
        count = self.settings.replica_count
        return {
            s: [f"http://{self.host}:{self._ports[f'{s}-{i}']}" for i in range(count(s))]
            for s in ALL_SERVICES
        }

    def _replicas(self, environ: Mapping[str, str]) -> dict[str, list[ChildProcess]]:
        backends = services.Backends(
            self.postgres_url, self.nats_url, self.storage, self.dicomweb_url
        )
        targets = services.health_targets(self.service_urls, self.gateway.ping_url)
        found: dict[str, list[ChildProcess]] = {}
        for service, urls in self.service_urls.items():
            found[service] = []
            for index, url in enumerate(urls):
                port = self._ports[f"{service}-{index}"]
                env = services.service_env(environ, backends, self.host, port)
                env.update(self._auth_env())
                if service == "indexer":
                    env["DICOMWEB_INDEXER_HEALTH_TARGETS"] = targets
                if service == "wado" and self.viewer_root is not None:
                    env.setdefault("DICOMWEB_WADO_VIEWER_ROOT", str(self.viewer_root.resolve()))
                if service == DIMSE_SERVICE:
                    env.update(self._dimse_env())
                found[service].append(services.replica(service, index, url, env, self.log_dir))
        return found

    @property
    def dimse_address(self) -> tuple[str, int]:
        """Where the DICOM listener takes associations (host, port)."""
        return self.host, self._ports["dimse_port"]

    def _dimse_env(self) -> dict[str, str]:
        host, port = self.dimse_address
        return {"DICOMWEB_DIMSE_HOST": host, "DICOMWEB_DIMSE_PORT": str(port)}

    def _auth_env(self) -> dict[str, str]:
        """What the services need to check the local provider's tokens (the contract wins
        over inherited ``DICOMWEB_AUTH_*``)."""
        provider = self.oidc
        if provider is None:
            return {}
        return {
            "DICOMWEB_AUTH_ENABLED": "true",
            "DICOMWEB_AUTH_ISSUER": provider.issuer,
            "DICOMWEB_AUTH_AUDIENCES": AUDIENCE,
        }

    def _postgres(self) -> Postgres:
        component = self._backing["postgres"]
        assert isinstance(component, Postgres)
        return component

    def _nats(self) -> Nats:
        component = self._backing["nats"]
        assert isinstance(component, Nats)
        return component

    def _address(self, name: str) -> str:
        if name == "postgres":
            return self.postgres_url
        if name == "oidc" and self.oidc is not None:
            return f"{self.oidc.issuer} (OIDC issuer)"
        if name == "nats":
            return (
                f"{self.nats_url} (monitor http://{self.host}:{self._ports['nats_monitor_port']})"
            )
        return str(self.storage.s3_endpoint_url)
