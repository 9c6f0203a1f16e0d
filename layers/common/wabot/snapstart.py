"""Lambda SnapStart runtime hooks, shared by every handler.

With SnapStart, Lambda runs the init phase once per published version, snapshots the memory and
restores that snapshot for every new execution environment. So:

- before the snapshot: import and build everything the handler will use (its cached service
  object, settings, AWS clients, lazily imported modules, pydantic models whose building is
  deferred to first use), so restores skip that work;
- after a restore: the same memory now lives in many environments, possibly hours later:
  * connections opened before the snapshot are stale: every httpx and botocore connection
    pool is emptied (the clients stay, they reconnect on the next call);
  * `random` would produce the same sequence in every environment: re-seeded from os.urandom
    (the `secrets` module and uuid4 read os.urandom directly and need nothing);
  * a secret, tenant credential or instance config cached before the snapshot could outlive
    its cache lifetime (the monotonic clock does not count the time in the snapshot): every
    SecretStore, TenantCredentials and InstanceRegistry cache is emptied.

`snapshot_restore_py` exists only in the Lambda runtime; elsewhere `register` does nothing and
the hook functions are called directly by the tests.
"""

from __future__ import annotations

import gc
import importlib
import random
import sys
from collections.abc import Callable
from typing import Any


def register(prepare: Callable[[], Any], preload: tuple[str, ...] = ()) -> bool:
    """Register the hooks for this handler: `prepare` builds its cached service; `preload` names
    modules the request path imports lazily. False outside the Lambda runtime."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(lambda: before_snapshot(prepare, preload))
    register_after_restore(after_restore)
    return True


def before_snapshot(prepare: Callable[[], Any], preload: tuple[str, ...] = ()) -> Any:
    for module in preload:
        importlib.import_module(module)
    built = prepare()
    build_deferred_models()
    return built


def build_deferred_models() -> int:
    """Build the pydantic models whose building was deferred to their first use (`defer_build`,
    which keeps cold starts without SnapStart short): in the snapshot, no restore pays for it."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return 0
    built, pending, seen = 0, list(pydantic.BaseModel.__subclasses__()), set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        pending.extend(model.__subclasses__())
        if not model.__pydantic_complete__:
            try:
                model.model_rebuild(force=True)
                built += 1
            except Exception:  # noqa: S112 - e.g. an unresolved forward reference: built on first use, as before
                continue
    return built


def _close_http_pools(client: Any) -> None:
    # Closing a transport empties its connection pool; the client stays usable and reconnects.
    for transport in [client._transport, *client._mounts.values()]:
        if transport is not None:
            transport.close()


def _close_aws_pools(client: Any) -> None:
    client._endpoint.http_session.close()  # urllib3 pools cleared; new connections on demand


# (module, class, how to reset an instance, what it counts as); modules not imported are skipped.
_RESETS: tuple[tuple[str, str, Callable[[Any], None], str], ...] = (
    ("httpx", "Client", _close_http_pools, "http_clients"),
    ("botocore.client", "BaseClient", _close_aws_pools, "aws_clients"),
    ("wabot.repositories.secrets", "SecretStore", lambda store: store.clear_cache(), "secret_caches"),
    ("wabot.tenant_credentials", "TenantCredentials", lambda credentials: credentials.forget(),
     "tenant_credentials"),
    ("wabot.repositories.instances", "InstanceRegistry", lambda registry: registry.clear(), "instance_caches"),
)


def after_restore() -> dict[str, int]:
    """Reset what must not be shared across restored environments; returns what was reset."""
    random.seed()  # from os.urandom: each restored environment its own sequence
    counts = dict.fromkeys((name for *_, name in _RESETS), 0)
    resets = [(getattr(sys.modules[module], cls), reset, name)
              for module, cls, reset, name in _RESETS if module in sys.modules]
    # Found by walking the live objects once: whatever a handler built before the snapshot is
    # covered, without each module keeping a registry of its clients and caches.
    for obj in gc.get_objects():
        for cls, reset, name in resets:
            if isinstance(obj, cls):
                reset(obj)
                counts[name] += 1
                break
    return counts
