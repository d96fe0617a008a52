"""Model providers: one protocol, adapters per wire API, and the scripted provider."""
