"""Domain errors shared by every function. Handlers map them to HTTP answers or batch failures."""


class PlatformError(Exception):
    """Base class of the platform's own errors."""


class TenantContextError(PlatformError):
    """Tenant data was touched without a valid tenant context."""


class NotFoundError(PlatformError):
    """The thing does not exist for this tenant (also used for other tenants' things)."""


class InstanceNotFound(NotFoundError):
    pass


class ConfigurationError(PlatformError):
    """The instance is missing configuration it needs (for example its app secret)."""


class QueueSendError(PlatformError):
    """Some events could not be queued; the caller must make the sender retry."""


class ConflictError(PlatformError):
    """The change conflicts with the current state (taken number, concurrent update)."""

    public_message = "conflict"


class ForbiddenError(PlatformError):
    """The caller's role does not allow this inside its own tenant."""


class UnauthorizedError(PlatformError):
    """No valid credentials."""
