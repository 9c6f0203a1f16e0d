"""Shared code of the WhatsApp bot platform: models, tenancy, data access, WhatsApp client."""
