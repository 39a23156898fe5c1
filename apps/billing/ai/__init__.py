"""The LLM side of billing: OpenAI-compatible endpoints (``endpoint``) and the SDK client (``client``)."""
