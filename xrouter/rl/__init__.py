"""RL for routers: advantages and losses (pure functions), the LightningModule, data and callbacks."""
