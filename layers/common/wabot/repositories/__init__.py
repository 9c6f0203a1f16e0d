"""Data access. Every repository method takes the TenantContext first and builds keys from it."""
