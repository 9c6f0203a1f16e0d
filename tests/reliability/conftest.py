"""The reliability suite reuses the integration fixtures (moto, the template's resources)."""

from tests.integration.conftest import acme, function_env, funnel, globex, llm, stack  # noqa: F401
