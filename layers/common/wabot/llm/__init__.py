"""LLM backends (OpenAI-compatible, Gemini, Anthropic), reply formatting, voice synthesis."""
