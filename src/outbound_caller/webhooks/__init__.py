"""Post-call webhooks: each call's outcome posted, signed, to the practice's own systems."""
