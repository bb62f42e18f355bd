"""Push: webhooks (Standard Webhooks signatures, Pub/Sub-driven retries, SSRF-safe) (docs/webhooks.md)."""
