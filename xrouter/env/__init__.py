"""The multi-turn routing environment: episode records and the step logic over the model pool."""
