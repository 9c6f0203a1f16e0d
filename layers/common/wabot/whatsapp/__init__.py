"""WhatsApp Cloud API: outbound message models with Meta's limits, and the Graph API client."""
