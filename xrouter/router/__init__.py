"""The router: prompts, tool schemas, tool-call parsing and the policy model factory."""
